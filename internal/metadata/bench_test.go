package metadata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/metadata"
)

// BenchmarkNodeRun measures the metadata overhead of one node run: start the attempt, record its
// pins, commit, end the attempt (the writes every pod makes). It reports the median and the 95th
// percentile besides the mean; the target is a median under 10 ms.
func BenchmarkNodeRun(b *testing.B) {
	pins := map[string]json.RawMessage{
		"orders_onelake": json.RawMessage(`{"table":"raw.sales_orders","snapshot":8812,"files":[{"uri":"s3://lake/raw/sales_orders/part-0.parquet","size":1048576,"etag":"9b2cf535f27731c974343645a3985328"}]}`),
		"clicks":         json.RawMessage(`{"topic":"clicks","offsets":{"0":[100,200],"1":[340,512]}}`),
	}
	manifest := json.RawMessage(`{"files":[{"path":"attempt-1/part-00000.parquet","rows":1000,"bytes":65536,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}],"rows":1000,"bytes":65536,"attempt":1}`)
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			s := open(b, be.newDSN(b))
			durations := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				k := metadata.AttemptKey{Pipeline: "bench", RunID: "r", Node: fmt.Sprintf("node-%d", i), Try: 1}
				if err := s.StartAttempt(ctx, metadata.Attempt{AttemptKey: k, IRHash: "h", Engine: "arrow", PodName: "bench-pod"}); err != nil {
					b.Fatal(err)
				}
				if err := s.RecordPins(ctx, k, pins); err != nil {
					b.Fatal(err)
				}
				if committed, _, err := s.Commit(ctx, metadata.Commit{AttemptKey: k, Manifest: manifest}); err != nil || !committed {
					b.Fatalf("commit: %v, %v", committed, err)
				}
				if err := s.EndAttempt(ctx, metadata.Attempt{AttemptKey: k, Status: metadata.AttemptSucceeded, ExitCode: new(int),
					RowsIn: 1000, RowsOut: 1000, BytesIn: 65536, BytesOut: 65536}); err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
			}
			slices.Sort(durations)
			if n := len(durations); n > 0 {
				b.ReportMetric(float64(durations[n/2].Microseconds())/1000, "median-ms")
				b.ReportMetric(float64(durations[n*95/100].Microseconds())/1000, "p95-ms")
			}
		})
	}
}
