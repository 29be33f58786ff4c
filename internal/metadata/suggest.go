package metadata

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/ir"
)

// SuggestLimit bounds how many of the newest runs a suggestion for a run id that is not
// recorded compares it with: one indexed, bounded query, whatever the size of the store.
const SuggestLimit = 500

// SuggestRun says what a run id that is not recorded (of pipeline, when one is named) was
// probably meant to be, as an aside to append to the "not found" error: ` (did you mean
// "R"?)`, the pipeline the run belongs to when another was named, or the pipeline meant when the
// one named has no runs. "" when nothing is close. It reads through s, so a scoped store never
// suggests another team's runs or pipelines. A failing store gives "": the suggestion is a
// courtesy on the way to the not-found error, never a new error.
func SuggestRun(ctx context.Context, s Store, pipeline, runID string) string {
	if pipeline != "" {
		// The run exists, under another pipeline (a misspelt or wrong --pipeline).
		if runs, err := s.ListRuns(ctx, RunFilter{RunID: runID, Limit: 10}); err == nil {
			var ps []string
			for _, r := range runs {
				if r.RunID == runID && r.Pipeline != pipeline && !slices.Contains(ps, r.Pipeline) {
					ps = append(ps, r.Pipeline)
				}
			}
			if len(ps) > 0 {
				slices.Sort(ps)
				return fmt.Sprintf(" (%s is a run of pipeline %s, not of %s)", runID, strings.Join(ps, ", "), pipeline)
			}
		}
	}
	runs, err := s.ListRuns(ctx, RunFilter{Pipeline: pipeline, Limit: SuggestLimit})
	if err != nil {
		return ""
	}
	if len(runs) == 0 && pipeline != "" {
		return suggestPipeline(ctx, s, pipeline)
	}
	var ids []string
	for _, r := range runs {
		if !slices.Contains(ids, r.RunID) {
			ids = append(ids, r.RunID)
		}
	}
	if best := closestRunID(runID, ids); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// closestRunID is the recent run id nearest to got: a few edits away (run ids share their
// shape, scheduled__<date>, so the usual third of the length would match any other date), or the
// only one that got is a part of (a run id cut short when copied, or its case changed).
func closestRunID(got string, ids []string) string {
	if best := ir.ClosestWithin(got, ids, max(2, len(got)/10)); best != "" {
		return best
	}
	if len(got) < 6 {
		return ""
	}
	var found []string
	for _, id := range ids {
		if strings.Contains(strings.ToLower(id), strings.ToLower(got)) {
			found = append(found, id)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	for _, id := range ids {
		if strings.EqualFold(id, got) {
			return id
		}
	}
	return ""
}

// suggestPipeline names the recorded pipeline nearest to one that has no runs.
func suggestPipeline(ctx context.Context, s Store, pipeline string) string {
	ps, err := s.ListPipelines(ctx)
	if err != nil {
		return ""
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.Pipeline
	}
	if best := ir.Closest(pipeline, ids); best != "" {
		return fmt.Sprintf(" (pipeline %s has no runs; did you mean pipeline %q?)", pipeline, best)
	}
	return fmt.Sprintf(" (pipeline %s has no runs)", pipeline)
}
