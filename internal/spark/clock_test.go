//go:build !nospark

package spark

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// The call clock counts the wall time with at least one Spark call in flight once, however
// the calls overlap (the input count runs beside the node's query), and tells the time before
// the first call and after the last from it.
func TestCallClock(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	c := &callClock{now: func() time.Time { return now }}
	at := func(ms int) { now = t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		at    int
		begin string // method; "" ends a call
	}{
		{100, "/spark.connect.SparkConnectService/Config"},
		{130, ""},
		{200, "/spark.connect.SparkConnectService/ExecutePlan"}, // the query
		{250, "/spark.connect.SparkConnectService/ExecutePlan"}, // the count, beside it
		{400, ""},
		{700, ""},
		{800, "/spark.connect.SparkConnectService/AnalyzePlan"},
		{850, ""},
		{860, ""}, // one end too many (a stream finished twice): ignored
	}
	for _, s := range steps {
		at(s.at)
		if s.begin != "" {
			c.begin(s.begin)
		} else {
			c.end()
		}
	}
	at(1000)
	var buf bytes.Buffer
	c.report(slog.New(slog.NewJSONHandler(&buf, nil)), t0.Add(50*time.Millisecond))
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"calls": 4, "execute_plan": 2, "in_spark_ms": 30 + 500 + 50, "session_ms": 950, "after_last_ms": 150}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, got[k], v, buf.String())
		}
	}
	if got["msg"] != "spark calls" {
		t.Errorf("message %v", got["msg"])
	}
}
