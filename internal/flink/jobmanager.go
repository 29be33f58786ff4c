package flink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
)

// JobManager reads a Flink cluster's JobManager REST API (the port the web UI is served on).
// The SQL Gateway submits, lists and stops jobs but says nothing of their checkpoints: where
// a job that failed for good can resume is only known here.
type JobManager struct {
	base string
	http *http.Client
}

// NewJobManager returns a client of the JobManager REST API at base (http://host:8081).
func NewJobManager(base string, hc *http.Client) (*JobManager, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fault.Configf("flink REST %q is not an http(s)://host:port URL", base)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &JobManager{base: strings.TrimSuffix(u.String(), "/"), http: hc}, nil
}

// Checkpoints is what a job's checkpoints tell about where it can resume.
type Checkpoints struct {
	// Completed is how many checkpoints the job completed (across its own restarts).
	Completed int
	// Latest is the external path of its latest completed checkpoint, "" when none.
	Latest string
	// Restored is the external path of the checkpoint or savepoint it last restored from, ""
	// when it started without one.
	Restored string
}

// Checkpoints returns the checkpoint statistics of a job (GET /jobs/:id/checkpoints). The
// JobManager keeps them for a job that ended as long as it keeps the job (jobstore.expiration-time,
// an hour by default); a job it does not know is fault.Data.
func (m *JobManager) Checkpoints(ctx context.Context, jobID string) (Checkpoints, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/jobs/"+url.PathEscape(jobID)+"/checkpoints", nil)
	if err != nil {
		return Checkpoints{}, fault.Wrap(fault.Internal, err, "flink REST request")
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return Checkpoints{}, fault.Wrap(fault.Temporary, err, "flink REST %s unreachable", m.base)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return Checkpoints{}, fault.Wrap(fault.Temporary, err, "flink REST %s: read answer", m.base)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return Checkpoints{}, fault.Dataf("flink REST %s does not know job %s (a job that ended is kept for jobstore.expiration-time)", m.base, jobID)
	case resp.StatusCode/100 != 2:
		var er errorResponse
		_ = json.Unmarshal(b, &er)
		return Checkpoints{}, fault.New(fault.Temporary, "flink REST %s: job %s checkpoints: HTTP %d %s", m.base, jobID, resp.StatusCode, strings.Join(er.Errors, "; "))
	}
	var out struct {
		Counts struct {
			Completed int `json:"completed"`
		} `json:"counts"`
		Latest struct {
			Completed *struct {
				Status       string `json:"status"`
				ExternalPath string `json:"external_path"`
				Discarded    bool   `json:"discarded"`
			} `json:"completed"`
			Restored *struct {
				ExternalPath string `json:"external_path"`
			} `json:"restored"`
		} `json:"latest"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return Checkpoints{}, fault.Wrap(fault.Temporary, fmt.Errorf("%w: %.200s", err, b), "flink REST %s: undecodable checkpoints of job %s", m.base, jobID)
	}
	c := Checkpoints{Completed: out.Counts.Completed}
	if l := out.Latest.Completed; l != nil && !l.Discarded && l.ExternalPath != "" && !strings.EqualFold(l.ExternalPath, "<checkpoint-not-externally-addressable>") {
		c.Latest = l.ExternalPath
	}
	if r := out.Latest.Restored; r != nil {
		c.Restored = r.ExternalPath
	}
	return c, nil
}
