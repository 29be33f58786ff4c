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
	return SuggestRunFor(ctx, s, pipeline, runID).Text
}

// RunSuggestion is SuggestRun's answer as data, for a page that links to what was meant.
type RunSuggestion struct {
	// Pipeline and RunID are the run meant; RunID is "" when only a pipeline is meant (the one
	// named has no runs). Both "" when nothing is close.
	Pipeline string `json:"pipeline,omitempty"`
	RunID    string `json:"run_id,omitempty"`
	// Text is SuggestRun's aside.
	Text string `json:"text,omitempty"`
}

// SuggestRunFor is SuggestRun with the run or pipeline it names.
func SuggestRunFor(ctx context.Context, s Store, pipeline, runID string) RunSuggestion {
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
				return RunSuggestion{Pipeline: ps[0], RunID: runID,
					Text: fmt.Sprintf(" (%s is a run of pipeline %s, not of %s)", runID, strings.Join(ps, ", "), pipeline)}
			}
		}
	}
	runs, err := s.ListRuns(ctx, RunFilter{Pipeline: pipeline, Limit: SuggestLimit})
	if err != nil {
		return RunSuggestion{}
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
		i := slices.IndexFunc(runs, func(r Run) bool { return r.RunID == best })
		return RunSuggestion{Pipeline: runs[i].Pipeline, RunID: best, Text: fmt.Sprintf(" (did you mean %q?)", best)}
	}
	return RunSuggestion{}
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
func suggestPipeline(ctx context.Context, s Store, pipeline string) RunSuggestion {
	ps, err := s.ListPipelines(ctx)
	if err != nil {
		return RunSuggestion{}
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.Pipeline
	}
	if best := ir.Closest(pipeline, ids); best != "" {
		return RunSuggestion{Pipeline: best, Text: fmt.Sprintf(" (pipeline %s has no runs; did you mean pipeline %q?)", pipeline, best)}
	}
	return RunSuggestion{Text: fmt.Sprintf(" (pipeline %s has no runs)", pipeline)}
}
