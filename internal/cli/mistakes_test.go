package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestMisspeltFlagsOfEveryCommand: every long flag of every command, misspelt by one edit
// (a dropped, doubled or swapped letter), is refused with exit 64 and the flag it meant.
func TestMisspeltFlagsOfEveryCommand(t *testing.T) {
	flagRE := regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z][a-z0-9-]+)`)
	commands := []string{"compile", "head", "pipelines list", "pipelines record", "plan", "plugins", "replay", "run",
		"runs list", "runs show", "ui", "usage", "validate", "version", "completion", "demo-data", "stream-load"}
	typos := map[string]func(string) string{
		"dropped": func(s string) string { return s[:len(s)/2] + s[len(s)/2+1:] },
		"doubled": func(s string) string { return s[:len(s)/2] + s[len(s)/2:len(s)/2+1] + s[len(s)/2:] },
		"swapped": func(s string) string { i := len(s) / 2; return s[:i-1] + s[i:i+1] + s[i-1:i] + s[i+1:] },
		"replaced": func(s string) string {
			i := len(s) - 1
			return s[:i] + map[bool]string{true: "x", false: "z"}[s[i] != 'x']
		},
	}
	seen := 0
	for _, c := range commands {
		args := strings.Fields(c)
		help := run(t, nil, append(args, "--help")...)
		if help.code != 0 {
			t.Fatalf("%s --help: exit %d\n%s", c, help.code, help.stderr)
		}
		for _, m := range flagRE.FindAllStringSubmatch(help.stdout, -1) {
			flag := m[1]
			if flag == "help" || len(flag) < 3 {
				continue
			}
			for kind, typo := range typos {
				bad := typo(flag)
				if bad == flag {
					continue
				}
				seen++
				r := run(t, nil, append(append([]string{}, args...), "--"+bad)...)
				// kong names one flag (did you mean "--fuse"?) or a few (did you mean one of "--out", "--fuse"?).
				if r.code != exitUsage || !regexp.MustCompile(`did you mean (one of )?("--[a-z-]+", )*"--`+flag+`"`).MatchString(r.stderr) {
					t.Errorf("%s --%s (%s --%s): exit %d, want %d and the flag meant:\n%s", c, bad, kind, flag, r.code, exitUsage, r.stderr)
				}
			}
		}
	}
	if seen < 100 {
		t.Errorf("only %d misspelt flags tried: the --help parsing missed flags", seen)
	}
}

// TestMisspeltCommands: a misspelt command or subcommand, at every level, exits 64 with the
// one meant, and nothing runs.
func TestMisspeltCommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"valdiate", exampleYAML}, `"validate"`}, {[]string{"complie"}, `"compile"`}, {[]string{"plna"}, `"plan"`},
		{[]string{"plugns"}, `"plugins"`}, {[]string{"rnu"}, `"run"`}, {[]string{"rnus"}, `"runs"`}, {[]string{"replya"}, `"replay"`},
		{[]string{"verison"}, `"version"`}, {[]string{"completoin"}, `"completion"`}, {[]string{"pipelins"}, `"pipelines"`},
		{[]string{"usgae"}, `"usage"`}, {[]string{"haed"}, `"head"`}, {[]string{"demodata"}, `"demo-data"`},
		{[]string{"runs", "lst"}, `"list"`}, {[]string{"runs", "shwo", "r1"}, `"show"`}, {[]string{"runs", "sho"}, `"show"`},
		{[]string{"pipelines", "lsit"}, `"list"`}, {[]string{"pipelines", "recrod", exampleYAML}, `"record"`},
		{[]string{"help", "compiel"}, `"compile"`}, {[]string{"help", "rnus"}, `"runs"`},
		{[]string{"plugins", "fles"}, `"files"`}, {[]string{"plugins", "sprak"}, `"spark"`}, {[]string{"plugins", "feature-store"}, `"feature_store"`},
		{[]string{"completion", "zhs"}, `"zsh"`},
		{[]string{"compile", exampleYAML, "--out", "x", "--target", "kubernets"}, `"kubernetes"`},
		{[]string{"compile", exampleYAML, "--out", "x", "--target", "locl"}, `"local"`},
		{[]string{"runs", "--status", "faild"}, `"failed"`}, {[]string{"usage", "--by", "projet"}, `"project"`},
	} {
		r := run(t, nil, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "did you mean "+tc.want) {
			t.Errorf("%s: exit %d, want %d and did you mean %s:\n%s", strings.Join(tc.args, " "), r.code, exitUsage, tc.want, r.stderr)
		}
	}
}

// TestMisspeltIDs: a misspelt pipeline or node id given to run, plan or replay exits 78 with
// the id meant, before any node runs.
func TestMisspeltIDs(t *testing.T) {
	w := newWorkspace(t)
	spec := filepath.Join(examplesDir, "quickstart", "pipeline.yaml")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--ir", spec, "--pipeline", "quickstart_user_order", "--all"}, `"quickstart_user_orders"`},
		{[]string{"run", "--ir", spec, "--pipeline", "quickstart_user_orders", "--node", "ordres"}, `"orders"`},
		{[]string{"run", "--ir", spec, "--pipeline", "quickstart_user_orders", "--node", "paid_orders_by_usr"}, `"paid_orders_by_user"`},
		{[]string{"plan", spec, "--pipeline", "quickstart_usr_orders"}, `"quickstart_user_orders"`},
	} {
		r := w.run(tc.args...)
		if r.code != exitConfig && r.code != exitUsage || !strings.Contains(r.stderr, "did you mean "+tc.want) {
			t.Errorf("%s: exit %d, want 78 or 64 and did you mean %s:\n%s", strings.Join(tc.args, " "), r.code, tc.want, r.stderr)
		}
		if _, err := os.Stat(w.path(".aiflow/staging")); err == nil {
			t.Errorf("%s: a node ran (staging written)", strings.Join(tc.args, " "))
		}
	}
}

// TestMisspeltSpecs: misspellings in a YAML spec (kinds, fields, enum values, engines, env,
// schedules, step operations, expressions, aggregates, input ids, template variables) each get
// the file:line of the mistake and the name meant (or what is wrong), exit 78 from validate and
// from compile, which writes no DAG.
func TestMisspeltSpecs(t *testing.T) {
	base, err := os.ReadFile(filepath.Join(examplesDir, "quickstart", "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		old, new string
		line     int
		want     string
	}{
		{"source: files", "source: fles", 14, `unknown source "fles" (did you mean "files"?)`},
		{"sink: onelake", "sink: onelak", 42, `unknown sink "onelak" (did you mean "onelake"?)`},
		{"transform: arrow", "transform: arow", 20, `unknown engine "arow" (did you mean "arrow"?)`},
		{"      format: parquet\n\n", "      fromat: parquet\n\n", 18, `unknown field "fromat" (did you mean "format"?)`},
		{"      format: parquet\n\n", "      format: parqet\n\n", 18, `"parqet" is not one of parquet, csv, json, ipc (did you mean "parquet"?)`},
		{"      mode: overwrite\n\n", "      mode: overwirte\n\n", 40, `(did you mean "overwrite"?)`},
		{"table: demo.user_order_stats", "tabel: demo.user_order_stats", 46, `unknown field "tabel" (did you mean "table"?)`},
		{"  env: dev", "  env: devv", 11, `env "devv" is not one of dev, staging, prod (did you mean "dev"?)`},
		{`schedule: "@daily"`, `schedule: "@dayly"`, 8, `(did you mean "@daily"?)`},
		{`schedule: "@daily"`, `schedule: "0 25 * * *"`, 8, `hour "25": 25 is out of range 0-23`},
		{`schedule: "@daily"`, `schedule: "0 0 * * 8"`, 8, `is not a valid 5-field cron expression`},
		{`schedule: "@daily"`, `schedule: "0 0 * *"`, 8, `is not a valid 5-field cron expression`},
		{"  owner: you", "  ownr: you", 9, `unknown field "ownr" in pipeline (did you mean "owner"?)`},
		{"  project: quickstart", "  projet: quickstart", 12, `(did you mean "project"?)`},
		{"    inputs: [orders]\n    with:\n      steps", "    inptus: [orders]\n    with:\n      steps", 22, `unknown field "inptus" in node (did you mean "inputs"?)`},
		{"    inputs: [orders]", "    inputs: [ordres]", 20, `input "ordres" is not a node of this pipeline (did you mean "orders"?)`},
		{"- filter:", "- filtr:", 25, `unknown operation "filtr" (did you mean "filter"?)`},
		{"- group_by:", "- groupby:", 26, `unknown operation "groupby" (did you mean "group_by"?)`},
		{"keys: [user_id]", "key: [user_id]", 26, `unknown field "key" (did you mean "keys"?)`},
		{"status = 'paid'", "status == 'paid'", 25, `did you mean '='?`},
		{"AND amount > 0", "&& amount > 0", 25, `did you mean AND?`},
		{"AND amount > 0", "AND (amount > 0", 25, `expected ')'`},
		{"AND amount > 0", "AND amount >", 25, `unexpected end of expression`},
		{`"sum(amount)"`, `"summ(amount)"`, 30, `unknown aggregate summ (did you mean "sum"?)`},
		{`"avg(amount)"`, `"avg(amount"`, 31, `expected ')'`},
		{`"count(*)"`, `"cnt(*)"`, 29, `unknown aggregate cnt`},
		{"status = 'paid' AND amount > 0", "lenght(status) > 0", 25, `unknown function lenght (did you mean "length"?)`},
		{"status = 'paid' AND amount > 0", "sum(amount) > 0", 25, `sum is an aggregate`},
		{"status = 'paid' AND amount > 0", "status = 'paid' AND dt = '{{ dss }}'", 25, `(did you mean "ds"?)`},
	} {
		t.Run(tc.new, func(t *testing.T) {
			if !strings.Contains(string(base), tc.old) {
				t.Fatalf("the example has no %q", tc.old)
			}
			w := newWorkspace(t)
			p := w.write("p.yaml", strings.Replace(string(base), tc.old, tc.new, 1))
			for _, args := range [][]string{{"validate", p}, {"compile", p, "--out", w.path("dags")}} {
				r := w.run(args...)
				wantLine := "p.yaml:" + strconv.Itoa(tc.line) + ": "
				if r.code != exitConfig || !strings.Contains(r.stderr, wantLine) || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("%s: exit %d, want %d, %q and %q:\n%s", args[0], r.code, exitConfig, wantLine, tc.want, r.stderr)
				}
			}
			if entries, _ := os.ReadDir(w.path("dags")); len(entries) > 0 {
				t.Errorf("compile wrote %d files", len(entries))
			}
		})
	}
}

// TestMisspeltRunID: every command that takes a run id (runs show, replay) answers a misspelt
// one, or a run named under the wrong pipeline, with the one meant among the recent runs.
func TestMisspeltRunID(t *testing.T) {
	w := newWorkspace(t)
	spec := w.quickstart()
	const rid = "manual__2024-06-02T10:11:12.123456+00:00"
	if r := w.run("run", "--pipeline", "qs", "--all", "--ir", spec, "--run-id", rid); r.code != 0 {
		t.Fatalf("run: exit %d %s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"runs", "show", "manual__2024-06-02T10:11:21.123456+00:00"}, exitConfig, `did you mean "` + rid + `"?`},
		{[]string{"runs", "show", "manual__2024-06-02T10:11", "--pipeline", "qs"}, exitConfig, `did you mean "` + rid + `"?`},
		{[]string{"runs", "show", rid, "--pipeline", "qss"}, exitConfig, "is a run of pipeline qs, not of qss"},
		{[]string{"runs", "show", "nothing_like_it", "--pipeline", "qss"}, exitConfig, `did you mean pipeline "qs"?`},
		{[]string{"replay", "--pipeline", "qs", "--run-id", "manual__2024-06-02T10:11:12.12345+00:00", "--node", "by_user"}, exitUsage, `did you mean "` + rid + `"?`},
		{[]string{"replay", "--pipeline", "sq", "--run-id", rid, "--node", "by_user"}, exitUsage, "is a run of pipeline qs, not of sq"},
	} {
		r := w.run(tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, want %d and %q:\n%s", strings.Join(tc.args, " "), r.code, tc.code, tc.want, r.stderr)
		}
	}
	// Nothing close: no suggestion, still not found.
	if r := w.run("runs", "show", "zzz"); r.code != exitConfig || strings.Contains(r.stderr, "did you mean") {
		t.Errorf("runs show zzz: exit %d\n%s", r.code, r.stderr)
	}
}
