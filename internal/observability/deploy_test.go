package observability

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// deployDir is deploy/observability of the module this package is in.
func deployDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "deploy", "observability")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// knownSeries are the names the rules and the dashboard may use: what Metrics exports (histogram
// series included), the recording rules and the Pushgateway's push_time_seconds.
func knownSeries(t *testing.T, rules ruleFile) map[string]bool {
	t.Helper()
	m := NewMetrics(testInfo())
	m.Observe(NodeResult{Status: StatusSucceeded})
	m.Observe(NodeResult{Status: StatusFailed})
	known := map[string]bool{"push_time_seconds": true}
	for name, f := range gatherMap(t, m.Gatherer()) {
		known[name] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				known[name+s] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	return known
}

var seriesName = regexp.MustCompile(`\baiflow[_:][A-Za-z0-9_:]*`)

func checkNames(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	for _, name := range seriesName.FindAllString(expr, -1) {
		if !known[name] {
			t.Errorf("%s uses %s, which nothing exports or records", where, name)
		}
	}
}

func TestAlertRules(t *testing.T) {
	dir := deployDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleFile
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	known := knownSeries(t, rules)
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: no name or no rules", g.Name)
		}
		for _, r := range g.Rules {
			name := r.Record + r.Alert
			if (r.Record == "") == (r.Alert == "") {
				t.Errorf("rule %q: want exactly one of record and alert", name)
			}
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("rule %q: no expr", name)
			}
			if r.Alert != "" {
				alerts[r.Alert] = true
				if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
					t.Errorf("alert %s: needs labels.severity and annotations.summary", r.Alert)
				}
			}
			checkNames(t, "rule "+name, r.Expr, known)
			if strings.Contains(r.Expr, "run_id") {
				t.Errorf("rule %s uses run_id", name)
			}
		}
	}
	for _, want := range []string{"AiflowNodeFailingRepeatedly", "AiflowNodeSLAAtRisk"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
	if !known["aiflow:team_node_seconds:1h"] {
		t.Error("no cost-by-team recording rule aiflow:team_node_seconds:1h")
	}

	// promtool (Debian package prometheus) checks the syntax and runs alerts_test.yaml, the
	// rules' unit tests over Pushgateway-shaped series. Optional: skipped when it is not installed.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed: rule syntax and unit tests not run (apt-get install prometheus)")
		return
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	dir := deployDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Error("dashboard without title or uid")
	}
	rawRules, err := os.ReadFile(filepath.Join(dir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleFile
	if err := yaml.Unmarshal(rawRules, &rules); err != nil {
		t.Fatal(err)
	}
	known := knownSeries(t, rules)
	ids := map[int]bool{}
	var all strings.Builder
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" || p.Type == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d: needs title, type and targets", p.ID)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q: target without expr", p.Title)
			}
			checkNames(t, "panel "+p.Title, tg.Expr, known)
			all.WriteString(tg.Expr + "\n")
		}
	}
	// The panels the issue asks for.
	for _, want := range []string{"aiflow:node_runs:new1m", "aiflow:node_failures:new1m", "histogram_quantile(0.95",
		"aiflow_node_rows_total", "aiflow:node_seconds:new1m"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no panel uses %s", want)
		}
	}
}
