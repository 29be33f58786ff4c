package observability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
)

func testInfo() RunInfo {
	return RunInfo{
		Pipeline: "daily_user_feature_pipeline", Node: "enrich_orders", RunID: "scheduled__2026-03-01T03:00:00+00:00",
		Try: 1, IRHash: "9f2c", Engine: "spark", Team: "feature-platform", Env: "prod", Project: "feature-store",
		CostCenter: "cc-42", LogicalDate: time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC),
	}
}

var logFields = map[string]any{
	"pipeline": "daily_user_feature_pipeline", "node": "enrich_orders", "run_id": "scheduled__2026-03-01T03:00:00+00:00",
	"try": 1.0, "ir_hash": "9f2c", "engine": "spark", "team": "feature-platform", "env": "prod",
	"project": "feature-store", "cost_center": "cc-42",
}

func jsonLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

func TestLoggerJSONFieldsOnEveryLine(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, "json", "info", testInfo(), NewRedactor())
	log.Info("node started", "inputs", 2)
	log.With("stage", "commit").Warn("slow commit")
	log.WithGroup("spark").Error("query failed", "err", errors.New("boom"))
	lines := jsonLines(t, buf.Bytes())
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, l := range lines {
		for k, want := range logFields {
			if l[k] != want {
				t.Errorf("line %d: %s = %v, want %v", i, k, l[k], want)
			}
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d has no %s", i, k)
			}
		}
	}
	if lines[0]["inputs"] != 2.0 || lines[1]["stage"] != "commit" || lines[2]["spark"].(map[string]any)["err"] != "boom" {
		t.Errorf("attributes lost: %s", buf.String())
	}
}

func TestLoggerTextFormat(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, "text", "info", testInfo(), nil)
	log.Info("node started")
	line := buf.String()
	for _, want := range []string{"level=INFO", `msg="node started"`, "pipeline=daily_user_feature_pipeline",
		"node=enrich_orders", "try=1", "team=feature-platform", "cost_center=cc-42", "ir_hash=9f2c", "env=prod"} {
		if !strings.Contains(line, want) {
			t.Errorf("text line lacks %s: %s", want, line)
		}
	}
	if strings.HasPrefix(strings.TrimSpace(line), "{") {
		t.Errorf("text format wrote JSON: %s", line)
	}
}

func TestLoggerLevels(t *testing.T) {
	for _, c := range []struct {
		level string
		want  []string
	}{
		{"debug", []string{"d", "i", "w", "e"}},
		{"", []string{"i", "w", "e"}},
		{"INFO", []string{"i", "w", "e"}},
		{"warn", []string{"w", "e"}},
		{"error", []string{"e"}},
		{"nonsense", []string{"i", "w", "e"}},
	} {
		var buf bytes.Buffer
		log := NewLogger(&buf, "json", c.level, testInfo(), nil)
		log.Debug("d")
		log.Info("i")
		log.Warn("w")
		log.Error("e")
		var got []string
		for _, l := range jsonLines(t, buf.Bytes()) {
			got = append(got, l["msg"].(string))
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("level %q logged %v, want %v", c.level, got, c.want)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud): no error")
	}
	if l, _ := ParseLevel("Warn"); l != slog.LevelWarn {
		t.Errorf("ParseLevel(Warn) = %v", l)
	}
}

type credentials struct {
	User     string
	Password string
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

// TestSecretNeverLogged plants secret values everywhere a log line can carry them, in both
// formats, and greps every byte written.
func TestSecretNeverLogged(t *testing.T) {
	secrets := []string{
		"hunter2-Sup3rSecret",                // plain
		`pa"ss\word<&>`,                      // changes when JSON- or Go-quoted
		"-----BEGIN KEY-----\nMIIEabc123xyz", // spans lines
		"pässwörd-ünïcode",                   // non-ASCII
	}
	for _, format := range []string{"json", "text"} {
		for _, secret := range secrets {
			t.Run(format+"/"+secret[:4], func(t *testing.T) {
				var out bytes.Buffer
				r := NewRedactor()
				log := NewLogger(&out, format, "debug", testInfo(), r)
				early := log.With("dsn", "postgres://app:"+secret+"@db/x") // before the secret is known
				r.Add(secret)
				log.Info("connecting with " + secret)
				log.Info("attr", "password", secret, "n", 3)
				log.Error("failed", "err", fault.Wrap(fault.Temporary, fmt.Errorf("auth %s rejected", secret), "connect"))
				log.Info("stringer", "v", stringer{"token=" + secret})
				log.Info("struct", "creds", credentials{User: "app", Password: secret})
				log.Info("bytes", "raw", []byte("x"+secret+"y"))
				log.WithGroup("g").Info("group", "inner", slog.GroupValue(slog.String("k", secret)))
				log.With("conn", secret).Info("with")
				early.Info("attr added before the secret was registered")
				log.Info("map", "m", map[string]string{"k": secret})
				log.Debug(strings.ToUpper("x") + secret)
				got := out.String()
				if strings.Count(got, "\n") != 11 {
					t.Fatalf("%d lines, want 11:\n%s", strings.Count(got, "\n"), got)
				}
				for _, form := range append(secretForms(secret), strings.Split(secret, "\n")...) {
					if len(form) >= MinSecretLen && strings.Contains(got, form) {
						t.Errorf("secret form %q in output:\n%s", form, got)
					}
				}
				if !strings.Contains(got, Redacted) {
					t.Errorf("nothing redacted:\n%s", got)
				}
				if format == "json" {
					jsonLines(t, out.Bytes()) // still valid JSON lines
				}
			})
		}
	}
}

func TestRedactingWriterSplitWrites(t *testing.T) {
	const secret = "s3cr3t-v4lue-xyz"
	r := NewRedactor()
	r.Add(secret)
	var out bytes.Buffer
	w := r.Writer(&out)
	// The secret split across writes, and across the long-line cut.
	for _, chunk := range []string{"first line s3cr3", "t-v4lue-xyz end\nsecond ", "s3cr3t-v4lue-xyz"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	long := strings.Repeat("a", maxPending-5) + secret + strings.Repeat("b", 100)
	_, _ = w.Write([]byte(long[:maxPending+3]))
	_, _ = w.Write([]byte(long[maxPending+3:]))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, "s3cr3t") || strings.Count(got, Redacted) != 3 {
		t.Fatalf("redacted output wrong (%d redactions, want 3): %q…", strings.Count(got, Redacted), got[:80])
	}
	if !strings.HasPrefix(got, "first line [REDACTED] end\nsecond [REDACTED]") {
		t.Errorf("output = %q…", got[:60])
	}
}

func TestRedactorIgnoresShortValues(t *testing.T) {
	r := NewRedactor()
	r.Add("", "on", "abc")
	if got := r.Redact("on abc"); got != "on abc" {
		t.Errorf("Redact = %q", got)
	}
	var nilR *Redactor
	nilR.Add("whatever")
	if nilR.Redact("whatever") != "whatever" {
		t.Error("nil Redactor changed text")
	}
}

func TestNewRunInfoFromIR(t *testing.T) {
	spark := "spark"
	p := &ir.Pipeline{ID: "p", Extra: map[string]any{"team": "t", "env": "prod", "project": "x", "cost_center": nil},
		Nodes: map[string]*ir.Node{
			"src": {ID: "src", Type: ir.Source, Params: map[string]any{"kind": "onelake"}},
			"tr":  {ID: "tr", Type: ir.Transform, Engine: &spark},
		}}
	ld := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	info := NewRunInfo(p, "src", "r1", "h", 2, ld)
	want := RunInfo{Pipeline: "p", Node: "src", RunID: "r1", Try: 2, IRHash: "h", Engine: "onelake",
		Team: "t", Env: "prod", Project: "x", LogicalDate: ld}
	if info != want {
		t.Errorf("NewRunInfo = %+v, want %+v", info, want)
	}
	if NewRunInfo(p, "tr", "r1", "h", 1, ld).Engine != "spark" {
		t.Error("transform engine")
	}
}
