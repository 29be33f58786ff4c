package flink

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/fault"
)

// TestResumePoint: where a deploy restarts an ended job from, as the JobManager's checkpoint
// statistics (answers shaped like Flink 2.2's GET /jobs/:id/checkpoints) decide it: a FAILED
// job's latest completed checkpoint; with none completed, what it restored from (it committed
// nothing since); otherwise no restart, with the reason, or the error when the JobManager
// does not answer.
func TestResumePoint(t *testing.T) {
	answers := map[string]string{
		"latest":   `{"counts":{"restored":1,"completed":3},"latest":{"completed":{"id":9,"status":"COMPLETED","external_path":"file:/cp/j/chk-9","discarded":false},"restored":{"id":2,"external_path":"file:/sp/savepoint-1"}}}`,
		"restored": `{"counts":{"restored":1,"completed":0},"latest":{"completed":null,"savepoint":null,"restored":{"id":21,"is_savepoint":true,"external_path":"file:/cp/i/chk-21"}}}`,
		"fresh":    `{"counts":{"restored":0,"completed":0},"latest":{"completed":null,"restored":null}}`,
		"gone":     `{"counts":{"completed":4},"latest":{"completed":{"id":4,"external_path":"file:/cp/k/chk-4","discarded":true}}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/jobs/"), "/checkpoints")
		switch a, ok := answers[id]; {
		case id == "busy":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"errors":["leader not ready"]}`))
		case !ok:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"errors":["Job not found"]}`))
		default:
			w.Write([]byte(a))
		}
	}))
	defer srv.Close()
	jm, err := NewJobManager(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, job, state string
		jm               *JobManager
		from, why        string
		class            fault.Class
	}{
		{"latest checkpoint", "latest", "FAILED", jm, "file:/cp/j/chk-9", "", 0},
		{"none completed: where it started", "restored", "FAILED", jm, "file:/cp/i/chk-21", "", 0},
		{"none completed, started fresh", "fresh", "FAILED", jm, "", "", 0},
		{"latest discarded", "gone", "FAILED", jm, "", "not retained", 0},
		{"cancelled", "latest", "CANCELED", jm, "", "only a FAILED job", 0},
		{"unknown to the cluster", "latest", StateUnknown, jm, "", "only a FAILED job", 0},
		{"no REST", "latest", "FAILED", nil, "", "AIFLOW_FLINK_REST is not set", 0},
		{"expired from the JobManager", "expired", "FAILED", jm, "", "no longer knows", 0},
		{"JobManager not ready", "busy", "FAILED", jm, "", "", fault.Temporary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &Lifecycle{JobManager: tc.jm}
			from, why, err := l.resumePoint(context.Background(), tc.job, tc.state)
			if tc.class != 0 {
				if fault.ClassOf(err) != tc.class {
					t.Fatalf("error %v, want class %v", err, tc.class)
				}
				return
			}
			if err != nil || from != tc.from || (tc.why == "") != (why == "") || !strings.Contains(why, tc.why) {
				t.Fatalf("resume from %q, why %q, err %v; want %q, why containing %q", from, why, err, tc.from, tc.why)
			}
		})
	}
}
