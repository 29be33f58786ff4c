package flink

import (
	"bytes"
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

// Client talks to a Flink SQL Gateway's REST endpoint (API v1: sessions, statements, operation
// results), the interface Flink offers for submitting SQL from outside the JVM.
type Client struct {
	base string // http://host:port, no trailing slash
	http *http.Client
	// Poll is the pause between two fetches of a result that is not ready yet.
	Poll time.Duration
}

// NewClient returns a client of the gateway at base (http://host:port). A nil hc uses a client
// whose single requests are bounded (a long statement is polled, never one long request).
func NewClient(base string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fault.Configf("flink gateway %q is not an http(s)://host:port URL", base)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), http: hc, Poll: 200 * time.Millisecond}, nil
}

// Base is the gateway's URL.
func (c *Client) Base() string { return c.base }

// Info is GET /v1/info.
type Info struct {
	ProductName string `json:"productName"`
	Version     string `json:"version"`
}

// Info asks the gateway for its product name and version.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.do(ctx, http.MethodGet, "/v1/info", nil, &out)
	return out, err
}

// Session is an open gateway session: the catalog state (temporary tables and views) that the
// statements of one node attempt share.
type Session struct {
	c      *Client
	Handle string
}

// OpenSession opens a session with the given configuration (execution.runtime-mode, ...).
func (c *Client) OpenSession(ctx context.Context, name string, props map[string]string) (*Session, error) {
	var out struct {
		SessionHandle string `json:"sessionHandle"`
	}
	body := map[string]any{"sessionName": name, "properties": props}
	if err := c.do(ctx, http.MethodPost, "/v1/sessions", body, &out); err != nil {
		return nil, err
	}
	if out.SessionHandle == "" {
		return nil, fault.New(fault.Temporary, "flink gateway %s opened a session without a handle", c.base)
	}
	return &Session{c: c, Handle: out.SessionHandle}, nil
}

// Close closes the session (its temporary tables go with it). Errors are returned but a
// caller closing on its way out may ignore them: the gateway expires idle sessions.
func (s *Session) Close(ctx context.Context) error {
	return s.c.do(ctx, http.MethodDelete, "/v1/sessions/"+url.PathEscape(s.Handle), nil, nil)
}

// release closes the session on the way out of a call, best effort: also when ctx is already
// cancelled (a node's deadline or SIGTERM), with its own 10 s, so the gateway does not keep the
// session (and its catalog of temporary tables) until its idle timeout.
func (s *Session) release(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = s.Close(cctx)
}

// Column is a result column as the gateway describes it.
type Column struct {
	Name        string      `json:"name"`
	LogicalType LogicalType `json:"logicalType"`
}

// LogicalType is Flink's serialised logical type (type name plus its parameters).
type LogicalType struct {
	Type      string `json:"type"`
	Nullable  bool   `json:"nullable"`
	Length    int    `json:"length,omitempty"`
	Precision int    `json:"precision,omitempty"`
	Scale     int    `json:"scale,omitempty"`
}

// Row is one result row: its change kind (INSERT, UPDATE_BEFORE, ...) and its fields as JSON.
type Row struct {
	Kind   string            `json:"kind"`
	Fields []json.RawMessage `json:"fields"`
}

// Result is what one statement returned.
type Result struct {
	// Kind is SUCCESS or SUCCESS_WITH_CONTENT.
	Kind    string
	Columns []Column
	Rows    []Row
	// JobID is the Flink job the statement started ("" for DDL and the like).
	JobID string
}

type fetchResponse struct {
	ResultType    string `json:"resultType"` // NOT_READY, PAYLOAD, EOS
	IsQueryResult bool   `json:"isQueryResult"`
	JobID         string `json:"jobID"`
	ResultKind    string `json:"resultKind"`
	Results       struct {
		Columns []Column `json:"columns"`
		Data    []Row    `json:"data"`
	} `json:"results"`
	NextResultURI string `json:"nextResultUri"`
}

// Execute runs one statement and returns all its rows. With table.dml-sync on (see
// BatchSession) an INSERT returns once its job finished, and a failed job is the statement's
// error. The operation is closed before returning; ctx ending cancels it on the gateway.
func (s *Session) Execute(ctx context.Context, statement string, conf map[string]string) (*Result, error) {
	var op struct {
		OperationHandle string `json:"operationHandle"`
	}
	body := map[string]any{"statement": statement}
	if len(conf) > 0 {
		body["executionConfig"] = conf
	}
	if err := s.c.do(ctx, http.MethodPost, s.path("/statements"), body, &op); err != nil {
		return nil, err
	}
	opPath := s.path("/operations/" + url.PathEscape(op.OperationHandle))
	done := false
	defer func() {
		// A statement abandoned midway (deadline, SIGTERM) must not leave its job running.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if !done {
			_ = s.c.do(cctx, http.MethodPost, opPath+"/cancel", nil, nil)
		}
		_ = s.c.do(cctx, http.MethodDelete, opPath+"/close", nil, nil)
	}()
	res := &Result{}
	next := opPath + "/result/0?rowFormat=JSON"
	for next != "" {
		var fr fetchResponse
		if err := s.c.do(ctx, http.MethodGet, next, nil, &fr); err != nil {
			return nil, err
		}
		if fr.JobID != "" {
			res.JobID = fr.JobID
		}
		switch fr.ResultType {
		case "NOT_READY":
			select {
			case <-ctx.Done():
				return nil, fault.Wrap(fault.Temporary, ctx.Err(), "flink statement")
			case <-time.After(s.c.Poll):
			}
		case "PAYLOAD", "EOS":
			res.Kind = fr.ResultKind
			if len(fr.Results.Columns) > 0 {
				res.Columns = fr.Results.Columns
			}
			res.Rows = append(res.Rows, fr.Results.Data...)
		default:
			return nil, fault.New(fault.Temporary, "flink gateway %s: unknown result type %q", s.c.base, fr.ResultType)
		}
		if fr.ResultType == "EOS" {
			break
		}
		next = relative(fr.NextResultURI)
		if next != "" && !strings.Contains(next, "rowFormat=") {
			next += "?rowFormat=JSON"
		}
	}
	done = true
	return res, nil
}

// relative keeps the path and query of a next-result URI (the gateway sends it absolute-path).
func relative(u string) string {
	if u == "" {
		return ""
	}
	if p, err := url.Parse(u); err == nil && p.Path != "" {
		if p.RawQuery != "" {
			return p.Path + "?" + p.RawQuery
		}
		return p.Path
	}
	return u
}

func (s *Session) path(p string) string { return "/v1/sessions/" + url.PathEscape(s.Handle) + p }

// errorResponse is Flink's REST error body.
type errorResponse struct {
	Errors []string `json:"errors"`
}

// do sends one request and decodes the JSON answer into out (nil: discard it).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fault.Wrap(fault.Internal, err, "encode flink request")
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "flink request")
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if fault.IsCancel(err) || ctx.Err() != nil {
			return fault.Wrap(fault.Temporary, err, "flink gateway %s", c.base)
		}
		return fault.Wrap(fault.Temporary, err, "flink gateway %s unreachable", c.base)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fault.Wrap(fault.Temporary, err, "flink gateway %s: read answer", c.base)
	}
	if resp.StatusCode/100 != 2 {
		var er errorResponse
		_ = json.Unmarshal(b, &er)
		return classifyGateway(resp.StatusCode, er.Errors, c.base)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fault.Wrap(fault.Temporary, fmt.Errorf("%w: %.200s", err, b), "flink gateway %s: undecodable answer", c.base)
	}
	return nil
}

// ErrGateway is the gateway's own error (its message chain in Causes).
type ErrGateway struct {
	Status int
	// Causes are the exception lines of Flink's stack trace, outermost first: the last is the
	// root cause.
	Causes []string
}

func (e *ErrGateway) Error() string {
	if len(e.Causes) == 0 {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return e.Causes[len(e.Causes)-1]
}
