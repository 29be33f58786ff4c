package node

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/internal/observability"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestProgressRecordsAndLiveMetrics: while a node runs, "progress" records carry the rows read
// from every input (a group-by writes nothing for long) with a rate, and /metrics counts them
// before the node ends; the end adds only the rest.
func TestProgressRecordsAndLiveMetrics(t *testing.T) {
	p := newProgress(time.Now())
	p.input("a")(700, 7000)
	p.input("b")(300, 3000)
	p.output(nil)(5, 50)
	var buf syncBuf
	m := observability.NewMetrics(observability.RunInfo{Pipeline: "p", Node: "n"})
	p.run(context.Background(), 5*time.Millisecond, slog.New(slog.NewJSONHandler(&buf, nil)), m)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), `"msg":"progress"`) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.end()
	line, _, _ := strings.Cut(buf.String(), "\n")
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("no progress record: %q", buf.String())
	}
	if rec["msg"] != "progress" || rec["rows_in"] != 1000.0 || rec["bytes_in"] != 10000.0 || rec["rows_out"] != 5.0 || rec["rows_in_per_s"].(float64) <= 0 {
		t.Errorf("progress record %v", rec)
	}
	if in, out := rowsTotal(t, m); in != 1000 || out != 5 {
		t.Errorf("mid-run metrics: rows in %v out %v, want 1000 and 5", in, out)
	}
	m.Observe(observability.NodeResult{RowsIn: 1200, RowsOut: 9})
	if in, out := rowsTotal(t, m); in != 1200 || out != 9 {
		t.Errorf("after the end: rows in %v out %v, want 1200 and 9", in, out)
	}
}

func rowsTotal(t *testing.T, m *observability.Metrics) (in, out float64) {
	t.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "aiflow_node_rows_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "direction" && l.GetValue() == "in" {
					in = mt.GetCounter().GetValue()
				} else if l.GetName() == "direction" && l.GetValue() == "out" {
					out = mt.GetCounter().GetValue()
				}
			}
		}
	}
	return in, out
}
