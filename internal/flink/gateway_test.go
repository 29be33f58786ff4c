package flink_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

func gateway(t *testing.T) *flink.Client {
	t.Helper()
	c, err := flink.NewClient(testenv.Require(t, testenv.FlinkGateway), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The cluster scripts/services.sh starts answers: the gateway's version is the pinned one, a
// batch query runs as a job on the TaskManager and its rows come back typed.
func TestGatewayRunsAQuery(t *testing.T) {
	c := gateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.ProductName != "Apache Flink" || !strings.HasPrefix(info.Version, "2.") {
		t.Fatalf("info: %+v", info)
	}
	s, err := c.OpenSession(ctx, "aiflow-test", map[string]string{"execution.runtime-mode": "batch"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	res, err := s.Execute(ctx, "SELECT n, CAST(n * 2 AS BIGINT) AS m FROM (VALUES (1), (2), (3)) AS t(n)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Columns) != 2 || res.Columns[0].Name != "n" || res.Columns[1].LogicalType.Type != "BIGINT" {
		t.Fatalf("columns: %+v", res.Columns)
	}
	var got []string
	for _, r := range res.Rows {
		got = append(got, string(r.Fields[0])+":"+string(r.Fields[1]))
	}
	if strings.Join(got, ",") != "1:2,2:4,3:6" {
		t.Fatalf("rows: %v", got)
	}
}

// A statement Flink refuses is the user's error (65) with Flink's root cause as the message.
func TestGatewayClassifiesSQLErrors(t *testing.T) {
	c := gateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := c.OpenSession(ctx, "aiflow-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for _, stmt := range []string{"SELEC 1", "SELECT no_such_column FROM (VALUES (1)) AS t(x)"} {
		_, err := s.Execute(ctx, stmt, nil)
		if fault.ClassOf(err) != fault.Data {
			t.Errorf("%s: class %v, err %v", stmt, fault.ClassOf(err), err)
		}
		if strings.Contains(err.Error(), "\tat ") {
			t.Errorf("%s: stack trace in the message: %v", stmt, err)
		}
	}
}

// Transport and server failures are classified without a cluster: unreachable and 5xx are
// temporary (75), a malformed URL is configuration (78), a 404 is a bug of the client (1).
func TestGatewayErrorClasses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/info":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"errors":["org.apache.flink.runtime.rest.handler.RestHandlerException: busy"]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":["Not found: /nope"]}`))
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c, err := flink.NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Info(ctx)
	var ge *flink.ErrGateway
	if fault.ClassOf(err) != fault.Temporary || !errors.As(err, &ge) || ge.Status != 503 {
		t.Errorf("503: %v (%v)", err, fault.ClassOf(err))
	}
	if _, err := c.OpenSession(ctx, "x", nil); fault.ClassOf(err) != fault.Internal {
		t.Errorf("404: %v (%v)", err, fault.ClassOf(err))
	}
	srv.Close()
	if _, err := c.Info(ctx); fault.ClassOf(err) != fault.Temporary {
		t.Errorf("unreachable: %v (%v)", err, fault.ClassOf(err))
	}
	for _, bad := range []string{"", "127.0.0.1:8083", "ftp://h:1"} {
		if _, err := flink.NewClient(bad, nil); fault.ClassOf(err) != fault.Config {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// A statement abandoned by its caller (the node's deadline, SIGTERM) does not leave its job
// running on the cluster: the operation is cancelled on the way out and the job with it.
func TestAbandonedStatementCancelsItsJob(t *testing.T) {
	c := gateway(t)
	ctx := context.Background()
	name := "aiflow-test-cancel-" + time.Now().Format("150405.000")
	s, err := c.OpenSession(ctx, "aiflow-test", map[string]string{"execution.runtime-mode": "batch",
		"table.dml-sync": "true", "pipeline.name": name})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for _, st := range []string{
		"CREATE TEMPORARY TABLE gen (n BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1000000000', 'rows-per-second' = '1000')",
		"CREATE TEMPORARY TABLE sink (n BIGINT) WITH ('connector' = 'blackhole')",
	} {
		if _, err := s.Execute(ctx, st, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Give up once the job runs.
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		for sctx.Err() == nil {
			jobs, _ := c.Jobs(ctx)
			for _, j := range jobs {
				if j.Name == name && j.Status == "RUNNING" {
					return
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
	if _, err := s.Execute(sctx, "INSERT INTO sink SELECT n FROM gen", nil); fault.ClassOf(err) != fault.Temporary {
		t.Fatalf("abandoned statement: %v (%v)", err, fault.ClassOf(err))
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		jobs, err := c.Jobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		status := ""
		for _, j := range jobs {
			if j.Name == name {
				status = j.Status
			}
		}
		if status == "CANCELED" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %q two minutes after its statement was abandoned", name, status)
		}
		time.Sleep(time.Second)
	}
}
