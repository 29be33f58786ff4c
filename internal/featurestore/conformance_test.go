package featurestore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-dev/aiflow/internal/testenv"
	"github.com/aiflow-dev/aiflow/plugin/builtin"
	"github.com/aiflow-dev/aiflow/plugin/sinktest"
)

// TestFeatureStoreSinkConformance runs the sink suite against the test PostgreSQL: the rows of
// the feature group table.
func TestFeatureStoreSinkConformance(t *testing.T) {
	dsn := testenv.Require(t, testenv.PostgresDSN)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	n := 0
	sinktest.Run(t, sinktest.Target{Registry: builtin.Registry(), Kind: "feature_store",
		Params: func(t *testing.T) map[string]any {
			n++
			group := fmt.Sprintf("sinktest_%d_%d", time.Now().UnixNano()%1e9, n)
			t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE IF EXISTS public."+group) }) //nolint:errcheck
			return map[string]any{"feature_group": group, "create": true, "event_time": "event_time",
				"dsn": "${" + testenv.PostgresDSN + "}"}
		},
		Count: func(t *testing.T, p map[string]any) int {
			var exists bool
			if err := conn.QueryRow(context.Background(), "SELECT to_regclass('public.'||$1) IS NOT NULL", p["feature_group"]).Scan(&exists); err != nil {
				t.Fatal(err)
			}
			if !exists {
				return 0
			}
			var rows int
			if err := conn.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) FROM public.%s", p["feature_group"])).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			return rows
		},
	})
}
