package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTenantFilter: with AIFLOW_TEAM pinned, `runs list`, `runs show`, `pipelines list` and
// `usage` read that team's pipelines only (one user per team, each sees only their own); with no
// team pinned, everything.
func TestTenantFilter(t *testing.T) {
	w := newWorkspace(t)
	w.orders("in/orders", 2000)
	for _, team := range []string{"ads", "growth"} {
		spec := strings.NewReplacer("ORDERS", w.path("in/orders")+"/", "OUT", w.path("out/"+team)+"/",
			"id: qs,", "id: qs_"+team+",", "team: t,", "team: "+team+",").Replace(quickstart)
		p := w.write("spec/"+team+".yaml", spec)
		w.env["AIFLOW_TEAM"] = team
		if r := w.run("run", "--pipeline", "qs_"+team, "--all", "--ir", p, "--run-id", "r_"+team); r.code != 0 {
			t.Fatalf("run %s: exit %d %s", team, r.code, r.stderr)
		}
	}
	list := func(args ...string) string {
		t.Helper()
		r := w.run(args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	for _, tt := range []struct{ team, other string }{{"ads", "growth"}, {"growth", "ads"}} {
		w.env["AIFLOW_TEAM"] = tt.team
		var runs []struct {
			Pipeline string `json:"pipeline"`
		}
		if err := json.Unmarshal([]byte(list("runs", "list", "--json")), &runs); err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Pipeline != "qs_"+tt.team {
			t.Errorf("AIFLOW_TEAM=%s: runs list = %+v, want only qs_%s", tt.team, runs, tt.team)
		}
		if out := list("pipelines", "list"); !strings.Contains(out, "qs_"+tt.team) || strings.Contains(out, "qs_"+tt.other) {
			t.Errorf("AIFLOW_TEAM=%s: pipelines list:\n%s", tt.team, out)
		}
		if out := list("usage", "--by", "team"); !strings.Contains(out, tt.team) || strings.Contains(out, tt.other) {
			t.Errorf("AIFLOW_TEAM=%s: usage:\n%s", tt.team, out)
		}
		if r := w.run("runs", "show", "r_"+tt.other); r.code != 78 || !strings.Contains(r.stderr, "not found") {
			t.Errorf("AIFLOW_TEAM=%s: runs show of the other team's run: exit %d %s", tt.team, r.code, r.stderr)
		}
		if r := w.run("runs", "show", "r_"+tt.team); r.code != 0 {
			t.Errorf("AIFLOW_TEAM=%s: runs show of its own run: exit %d %s", tt.team, r.code, r.stderr)
		}
	}
	delete(w.env, "AIFLOW_TEAM")
	if out := list("usage", "--by", "team"); !strings.Contains(out, "ads") || !strings.Contains(out, "growth") {
		t.Errorf("no team pinned: usage shows both teams? \n%s", out)
	}
}
