package ui

import (
	"net/http"
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// streamRow is a streaming pipeline's job as the UI shows it: its deployment as the `stream`
// commands recorded it, and whether the job runs the pipeline's latest recorded IR.
type streamRow struct {
	metadata.StreamJob
	// LatestIRHash is the pipeline's latest recorded version ("" when the pipeline itself is not
	// recorded); Behind is true when the job runs (or last ran) another IR: the next
	// stream_deploy upgrades it through a savepoint.
	LatestIRHash string                `json:"latest_ir_hash"`
	Behind       bool                  `json:"behind"`
	LastEvent    *metadata.StreamEvent `json:"last_event"`
}

// streamEvents is how many of a job's latest events the pipeline page lists.
const streamEvents = 20

func (s *Server) streams(w http.ResponseWriter, r *http.Request) {
	st := s.store(r)
	js, err := st.ListStreamJobs(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	ps, err := st.ListPipelines(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	out := []streamRow{}
	for _, j := range js {
		row := streamRow{StreamJob: j}
		if i := slices.IndexFunc(ps, func(p metadata.Pipeline) bool { return p.Pipeline == j.Pipeline }); i >= 0 {
			row.LatestIRHash = ps[i].IRHash
			row.Behind = j.IRHash != ps[i].IRHash
		}
		evs, err := st.StreamEvents(r.Context(), j.Pipeline, 1)
		if err != nil {
			fail(w, err)
			return
		}
		if len(evs) > 0 {
			row.LastEvent = &evs[0]
		}
		out = append(out, row)
	}
	writeJSON(w, out)
}

// loadRow is the batch pipeline that loads a streaming pipeline's lake sink
// (<pipeline>__load_<sink>, recorded by stream-load), with its last run.
type loadRow struct {
	Pipeline string        `json:"pipeline"`
	LastRun  *metadata.Run `json:"last_run"`
}

// streamOf is a pipeline's job, its latest events and its lake sinks' loads; nil when no job
// was ever deployed. ps are the pipelines the user sees.
func (s *Server) streamOf(r *http.Request, pipeline, latest string, ps []metadata.Pipeline) (map[string]any, error) {
	st := s.store(r)
	j, err := st.StreamJob(r.Context(), pipeline)
	if err != nil || j == nil {
		return nil, err
	}
	evs, err := st.StreamEvents(r.Context(), pipeline, streamEvents)
	if err != nil {
		return nil, err
	}
	loads := []loadRow{}
	for _, p := range ps {
		if !strings.HasPrefix(p.Pipeline, pipeline+"__load_") {
			continue
		}
		row := loadRow{Pipeline: p.Pipeline}
		runs, err := st.ListRuns(r.Context(), metadata.RunFilter{Pipeline: p.Pipeline, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(runs) > 0 {
			row.LastRun = &runs[0]
		}
		loads = append(loads, row)
	}
	return map[string]any{"job": j, "behind": j.IRHash != latest, "events": evs, "loads": loads}, nil
}
