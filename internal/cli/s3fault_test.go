package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/delta"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/table"
)

// killingProxy stands between the runner and a private versitygw. When armed, the n-th PUT
// whose path matches kills the gateway (SIGKILL) before the request reaches it: the server dies
// at an exact point of a publish, which a kill from outside on a timer cannot hit. While the
// gateway is dead the proxy drops every connection, as a dead server would.
type killingProxy struct {
	gw *versitygw
	rp *httputil.ReverseProxy

	mu    sync.Mutex
	match func(path string) bool // the PUTs counted; nil: disarmed
	n     int                    // kill at the n-th counted PUT
	down  bool
}

func (p *killingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.match != nil && r.Method == http.MethodPut && p.match(r.URL.Path) {
		if p.n--; p.n == 0 {
			p.gw.kill()
			p.down, p.match = true, nil
		}
	}
	down := p.down
	p.mu.Unlock()
	if down {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close() // the connection drops mid-request: no response at all
			return
		}
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	p.rp.ServeHTTP(w, r)
}

func (p *killingProxy) arm(match func(string) bool, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.match, p.n = match, n
}

// restart brings the gateway back on its port with its data.
func (p *killingProxy) restart() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gw.start()
	p.down = false
}

// tableState is what a reader of a published table sees: its version, its rows and its files
// (URI → size).
type tableState struct {
	version, rows int64
	files         map[string]int64
}

// filesTable reads the files sink's table at dir.
func filesTable(ctx context.Context, st *objstore.Store, dir string) (tableState, error) {
	v, err := table.Current(ctx, st, dir)
	if err != nil || v == nil {
		return tableState{version: -1}, err
	}
	s := tableState{version: v.Version, rows: v.Rows, files: map[string]int64{}}
	for _, f := range v.Files {
		s.files[f.URI] = f.Size
	}
	return s, nil
}

// deltaTable reads the Delta table at dir as a Delta reader does: its latest log version.
func deltaTable(ctx context.Context, st *objstore.Store, dir string) (tableState, error) {
	t := delta.New(st, dir)
	snap, err := t.Latest(ctx)
	if err != nil {
		return tableState{version: -1}, err
	}
	s := tableState{version: snap.Version, files: map[string]int64{}}
	for _, a := range snap.Files() {
		var stats struct {
			NumRecords int64 `json:"numRecords"`
		}
		if err := json.Unmarshal([]byte(a.Stats), &stats); err != nil {
			return s, fmt.Errorf("stats of %s: %w", a.Path, err)
		}
		s.rows += stats.NumRecords
		s.files[t.FileURI(a.Path)] = a.Size
	}
	return s, nil
}

// TestS3DiesMidPublish: the S3 server dies (kill -9) in the middle of a sink's publish of
// several files (a files table and a Delta table, each partitioned in four): after two data
// files, before the version (the Delta commit), between the version and the current pointer. The
// attempt exits 75; a reader sees the old version or the whole new one, never part of it; the
// retry, once S3 is back, publishes the run's rows exactly once and leaves no stray data file; a
// further retry is a no-op; the ledger shows the killed try's 75 and the retry's success.
func TestS3DiesMidPublish(t *testing.T) {
	dataFile := func(dir string) func(string) bool {
		return func(p string) bool { return strings.Contains(p, dir) && strings.Contains(p, "/part-") }
	}
	suffix := func(s string) func(string) bool { return func(p string) bool { return strings.HasSuffix(p, s) } }
	const filesSink = `{id: out, sink: files, inputs: [src], with: {path: "s3://mid/out/", mode: append, partition_by: [status]}}`
	const deltaSink = `{id: out, sink: onelake, inputs: [src], with: {table: sales.orders, format: delta, mode: append, partition_by: [status]}}`
	for _, tc := range []struct {
		name, sink, dir string
		read            func(context.Context, *objstore.Store, string) (tableState, error)
		match           func(path string) bool
		n               int // kill at the n-th matching PUT of the run
	}{
		{"files/after two data files", filesSink, "s3://mid/out", filesTable, dataFile("/mid/out/"), 3},
		{"files/before the version", filesSink, "s3://mid/out", filesTable, suffix("/mid/out/_aiflow/v-00000002.json"), 1},
		{"files/before the current pointer", filesSink, "s3://mid/out", filesTable, suffix("/mid/out/_aiflow/current.json"), 1},
		{"delta/after two data files", deltaSink, "s3://mid/lake/sales/orders", deltaTable, dataFile("/mid/lake/sales/orders/"), 3},
		{"delta/before the commit", deltaSink, "s3://mid/lake/sales/orders", deltaTable, suffix("/_delta_log/00000000000000000001.json"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := startVersitygw(t, "mid")
			target, _ := url.Parse(gw.endpoint())
			proxy := &killingProxy{gw: gw, rp: httputil.NewSingleHostReverseProxy(target)}
			ep := serve(t, &http.Server{Handler: proxy})
			w := newWorkspace(t)
			w.orders("in", 3000)
			for k, v := range map[string]string{"AIFLOW_S3_ENDPOINT": ep, "AWS_ACCESS_KEY_ID": gw.key, "AWS_SECRET_ACCESS_KEY": gw.secret, "AWS_REGION": "us-east-1"} {
				w.env[k] = v
				t.Setenv(k, v)
			}
			w.env["AIFLOW_LAKE_ROOT"] = "s3://mid/lake"
			spec := w.write("spec.yaml", `api_version: aiflow/v1
pipeline: {id: mid, owner: me, env: dev}
nodes:
  - {id: src, source: files, with: {path: "`+w.path("in")+`/", format: parquet}}
  - `+tc.sink+`
`)
			if r := w.run("run", "--pipeline", "mid", "--all", "--ir", spec, "--run-id", "r0"); r.code != 0 {
				t.Fatalf("r0: exit %d\n%s", r.code, r.stderr)
			}
			ctx := context.Background()
			st := objstore.New(objstore.Options{S3Endpoint: ep, AccessKeyID: gw.key, SecretAccessKey: gw.secret})
			read := func() tableState {
				t.Helper()
				s, err := tc.read(ctx, st, tc.dir)
				if err != nil {
					t.Fatalf("read the table: %v", err)
				}
				for uri, size := range s.files {
					if b, err := st.Get(ctx, uri); err != nil || int64(len(b)) != size {
						t.Errorf("version %d lists %s (%d bytes): got %d bytes, %v", s.version, uri, size, len(b), err)
					}
				}
				return s
			}
			v0 := read()
			if len(v0.files) < 4 || v0.rows != 3000 {
				t.Fatalf("after r0: %d files, %d rows; want 4 partition files, 3000 rows", len(v0.files), v0.rows)
			}
			if r := w.run("run", "--pipeline", "mid", "--node", "src", "--ir", spec, "--run-id", "r1"); r.code != 0 {
				t.Fatalf("r1 src: exit %d\n%s", r.code, r.stderr)
			}
			node := func(try string) runResult {
				return w.run("run", "--pipeline", "mid", "--node", "out", "--ir", spec, "--run-id", "r1", "--try", try, "--max-tries", "2")
			}
			proxy.arm(tc.match, tc.n)
			r := node("1")
			if r.code != 75 {
				t.Fatalf("S3 killed mid-publish: exit %d, want 75\n%s", r.code, r.stderr)
			}
			t.Logf("killed try: %s", lastLine(r.stderr))
			proxy.mu.Lock()
			killed := proxy.down
			proxy.mu.Unlock()
			if !killed {
				t.Fatal("the publish never reached the kill point: the test tested nothing")
			}
			proxy.restart()
			// A reader sees the old version, or the new one whole (a complete version file the
			// pointer does not name yet is the table's latest state), every file of it readable.
			if v := read(); !(v.version == v0.version && v.rows == v0.rows) && !(v.version == v0.version+1 && v.rows == 2*v0.rows) {
				t.Fatalf("after the failed publish a reader sees version %d with %d rows (r0: version %d, %d rows): part of a publish is visible", v.version, v.rows, v0.version, v0.rows)
			}
			// The retry publishes once; the next is a no-op.
			var v tableState
			for _, try := range []string{"2", "3"} {
				if r := node(try); r.code != 0 {
					t.Fatalf("retry %s: exit %d\n%s", try, r.code, r.stderr)
				}
				if v = read(); v.version != v0.version+1 || v.rows != 2*v0.rows {
					t.Fatalf("after retry %s: version %d with %d rows, want version %d with %d (r0 and r1 once each)", try, v.version, v.rows, v0.version+1, 2*v0.rows)
				}
			}
			// No data file of the killed attempt is left beside the table's files.
			objs, err := st.List(ctx, tc.dir+"/")
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if strings.Contains(o.URI, "/part-") {
					if _, ok := v.files[o.URI]; !ok {
						t.Errorf("stray data file after the retry: %s", o.URI)
					}
				}
			}
			// The ledger: the killed try failed with 75, the retry succeeded.
			ms, err := metadata.Open(ctx, "sqlite://"+w.path(".aiflow/metadata.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer ms.Close()
			d, err := ms.GetRun(ctx, "mid", "r1")
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range d.Attempts {
				switch {
				case a.Node != "out":
				case a.Try == 1 && (a.ExitCode == nil || *a.ExitCode != 75):
					t.Errorf("killed try: status %s exit %v, want exit 75", a.Status, a.ExitCode)
				case a.Try == 2 && a.Status != metadata.AttemptSucceeded:
					t.Errorf("retry: status %s, want succeeded", a.Status)
				}
			}
		})
	}
}

// serve runs srv on a free local port until the test ends and returns its URL.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
