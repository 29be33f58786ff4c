package metadata

import (
	"context"
	"slices"

	"github.com/aiflow-dev/aiflow/fault"
)

// Scoped returns a Store that reads only what belongs to teams: the pipelines whose latest
// version names one of them, their runs, attempts, lineage and usage. A run or version of another
// team is ErrNotFound, as if it did not exist, so that its id tells nothing either. Writes pass
// through: what a runner records is governed by the tenant policy, not by who reads.
//
// It is the tenant filter of `runs list`, `pipelines list`, `usage` (AIFLOW_TEAM) and of the web
// UI (a user's teams). A nil teams means no filter: Scoped returns s itself.
func Scoped(s Store, teams []string) Store {
	if teams == nil {
		return s
	}
	return &scoped{Store: s, teams: slices.Clone(teams)}
}

type scoped struct {
	Store
	teams []string
}

func (s *scoped) mine(team string) bool { return slices.Contains(s.teams, team) }

func (s *scoped) PipelineVersion(ctx context.Context, pipeline, irHash string) (*PipelineVersion, error) {
	v, err := s.Store.PipelineVersion(ctx, pipeline, irHash)
	if err == nil && !s.mine(v.Team) {
		return nil, fault.Wrap(fault.Config, ErrNotFound, "pipeline %s version %s", pipeline, irHash)
	}
	return v, err
}

func (s *scoped) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	if f.Teams == nil {
		f.Teams = s.teams
	} else {
		f.Teams = slices.DeleteFunc(slices.Clone(f.Teams), func(t string) bool { return !s.mine(t) })
	}
	return s.Store.ListRuns(ctx, f)
}

func (s *scoped) GetRun(ctx context.Context, pipeline, runID string) (*RunDetail, error) {
	if pipeline == "" {
		// The run id alone may name runs of several pipelines, some of other teams: look it up
		// among this scope's runs only, so that the others are neither shown nor named.
		runs, err := s.Store.ListRuns(ctx, RunFilter{RunID: runID, Teams: s.teams, Limit: 100})
		if err != nil {
			return nil, err
		}
		var ps []string
		for _, r := range runs {
			if r.RunID == runID && !slices.Contains(ps, r.Pipeline) {
				ps = append(ps, r.Pipeline)
			}
		}
		switch len(ps) {
		case 0:
			return nil, fault.Wrap(fault.Usage, ErrNotFound, "show run %s", runID)
		case 1:
			pipeline = ps[0]
		default:
			return s.Store.GetRun(ctx, "", runID) // the store's own message naming them
		}
	}
	d, err := s.Store.GetRun(ctx, pipeline, runID)
	if err == nil && !s.mine(d.Team) {
		return nil, fault.Wrap(fault.Usage, ErrNotFound, "show run %s of pipeline %s", runID, pipeline)
	}
	return d, err
}

func (s *scoped) ListPipelines(ctx context.Context) ([]Pipeline, error) {
	ps, err := s.Store.ListPipelines(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ps, func(p Pipeline) bool { return !s.mine(p.Team) }), nil
}

func (s *scoped) Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	q.Teams = s.teams
	return s.Store.Usage(ctx, q)
}

func (s *scoped) Activity(ctx context.Context, q ActivityQuery) (Activity, error) {
	q.Teams = s.teams
	return s.Store.Activity(ctx, q)
}

func (s *scoped) NodeAttempts(ctx context.Context, pipeline, node string, limit int) ([]Attempt, error) {
	ps, err := s.ListPipelines(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(ps, func(p Pipeline) bool { return p.Pipeline == pipeline }) {
		return []Attempt{}, nil
	}
	return s.Store.NodeAttempts(ctx, pipeline, node, limit)
}

func (s *scoped) LineageEdges(ctx context.Context, q LineageQuery) ([]LineageEdge, error) {
	q.Teams = s.teams
	return s.Store.LineageEdges(ctx, q)
}

func (s *scoped) StreamJob(ctx context.Context, pipeline string) (*StreamJob, error) {
	j, err := s.Store.StreamJob(ctx, pipeline)
	if err != nil || j == nil || s.mine(j.Team) {
		return j, err
	}
	return nil, nil
}

func (s *scoped) ListStreamJobs(ctx context.Context) ([]StreamJob, error) {
	js, err := s.Store.ListStreamJobs(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(js, func(j StreamJob) bool { return !s.mine(j.Team) }), nil
}

func (s *scoped) StreamEvents(ctx context.Context, pipeline string, limit int) ([]StreamEvent, error) {
	if j, err := s.StreamJob(ctx, pipeline); err != nil || j == nil {
		return []StreamEvent{}, err
	}
	return s.Store.StreamEvents(ctx, pipeline, limit)
}
