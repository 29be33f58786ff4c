package metadata_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// TestSuggestRun: a run id that is not recorded gets the one meant among the pipeline's recent
// runs (a typo, a case change, a run id cut short), the pipeline it belongs to when another was
// named, or the pipeline meant when the one named has no runs; a scoped store suggests nothing of
// another team's.
func TestSuggestRun(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := metadata.Open(ctx, b.newDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			now := time.Now().UTC()
			for _, p := range []struct{ id, team string }{{"daily_orders", "sales"}, {"hourly_clicks", "web"}} {
				if err := s.RecordPipeline(ctx, metadata.PipelineVersion{Pipeline: p.id, IRHash: "h_" + p.id, IR: []byte(`{}`),
					Tenancy: metadata.Tenancy{Team: p.team}, FirstSeen: now, LastSeen: now}); err != nil {
					t.Fatal(err)
				}
			}
			runs := map[string][]string{
				"daily_orders":  {"scheduled__2024-06-01T03:00:00+00:00", "manual__2024-06-02T10:11:12.123456+00:00", "local__20261129T203400.123Z"},
				"hourly_clicks": {"scheduled__2024-06-01T03:00:00+00:00", "backfill__2024-05-31T00:00:00+00:00"},
			}
			for p, ids := range runs {
				for i, id := range ids {
					if err := s.StartRun(ctx, metadata.Run{Pipeline: p, RunID: id, IRHash: "h_" + p, StartedAt: now.Add(time.Duration(i) * time.Minute)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			sales := metadata.Scoped(s, []string{"sales"})
			for _, tc := range []struct {
				name            string
				store           metadata.Store
				pipeline, runID string
				want            string // "" for no suggestion
			}{
				{"typo in the date", s, "daily_orders", "manual__2024-06-02T10:11:21.123456+00:00", `did you mean "manual__2024-06-02T10:11:12.123456+00:00"?`},
				{"dropped letter, no pipeline", s, "", "locl__20261129T203400.123Z", `did you mean "local__20261129T203400.123Z"?`},
				{"case changed", s, "daily_orders", "MANUAL__2024-06-02T10:11:12.123456+00:00", `did you mean "manual__2024-06-02T10:11:12.123456+00:00"?`},
				{"cut short", s, "daily_orders", "local__20261129T2034", `did you mean "local__20261129T203400.123Z"?`},
				{"prefix of several", s, "", "2024-06", ""},
				{"wrong pipeline", s, "daily_orders", "backfill__2024-05-31T00:00:00+00:00", "is a run of pipeline hourly_clicks, not of daily_orders"},
				{"misspelt pipeline", s, "daily_ordres", "nothing_like_it", `did you mean pipeline "daily_orders"?`},
				{"misspelt pipeline, right run", s, "daily_ordres", "local__20261129T203400.123Z", "is a run of pipeline daily_orders"},
				{"nothing near", s, "daily_orders", "zzz", ""},
				{"another team's run is not suggested", sales, "", "backfil__2024-05-31T00:00:00+00:00", ""},
				{"another team's pipeline is not named", sales, "daily_orders", "backfill__2024-05-31T00:00:00+00:00", ""},
				{"own team's run is", sales, "", "manual__2024-06-02T10:11:12.12345+00:00", `did you mean "manual__2024-06-02T10:11:12.123456+00:00"?`},
			} {
				got := metadata.SuggestRun(ctx, tc.store, tc.pipeline, tc.runID)
				if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
					t.Errorf("%s: SuggestRun(%q, %q) = %q, want %s", tc.name, tc.pipeline, tc.runID, got, fmt.Sprintf("%q", tc.want))
				}
			}
		})
	}
}
