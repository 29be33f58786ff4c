package pathguard_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/internal/pathguard"
	"github.com/aiflow-dev/aiflow/plugin"
)

// TestRunnerConfined runs pipelines through the runner with AIFLOW_ALLOWED_ROOTS set: a source
// behind a symlink that leads out, and a sink path that climbs out with .., both fail with exit
// 78 before reading or writing; a pipeline inside the root runs.
func TestRunnerConfined(t *testing.T) {
	dir := t.TempDir()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	for _, d := range []string{root + "/in", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	csv := "id,v\n1,a\n2,b\n"
	for _, f := range []string{root + "/in/data.csv", outside + "/data.csv"} {
		if err := os.WriteFile(f, []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, root+"/in/link"); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AIFLOW_HOME": filepath.Join(root, ".aiflow"), "AIFLOW_LOG_FORMAT": "text", "AIFLOW_LOG_LEVEL": "warn",
		pathguard.RootsEnv: root}
	run := func(name, src, out string) (int, string) {
		spec := filepath.Join(root, name+".yaml")
		y := "api_version: aiflow/v1\npipeline: {id: " + name + ", owner: me, env: dev}\nnodes:\n" +
			"  - {id: src, source: files, with: {path: '" + src + "', format: csv}}\n" +
			"  - {id: out, sink: files, inputs: [src], with: {path: '" + out + "', format: csv}}\n"
		if err := os.WriteFile(spec, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := cli.RunWith(&cli.Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
			Registry: plugin.Default, Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
			[]string{"run", "--pipeline", name, "--all", "--ir", spec})
		return code, stderr.String()
	}
	if code, stderr := run("symlink", root+"/in/link/data.csv", root+"/out/a/"); code != 78 || !strings.Contains(stderr, "outside the allowed roots") {
		t.Errorf("symlink escape: exit %d\n%s", code, stderr)
	}
	if code, stderr := run("dotdot", root+"/in/data.csv", root+"/out/../../outside/stolen/"); code != 78 || !strings.Contains(stderr, "outside the allowed roots") {
		t.Errorf(".. escape: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(outside + "/stolen"); err == nil {
		t.Error("the sink wrote outside the root")
	}
	if code, stderr := run("inside", root+"/in/data.csv", root+"/out/ok/"); code != 0 {
		t.Errorf("inside the root: exit %d\n%s", code, stderr)
	}
}

// TestRunnerConfinedInsideSinks plants symlinks that lead out of the allowed root inside folders
// whose root is allowed: a partition folder and the table's metadata folder of a files sink, the
// _delta_log of a onelake table, a partition folder of a onelake write. Each run fails with 78
// and nothing is written (or read) outside the root.
func TestRunnerConfinedInsideSinks(t *testing.T) {
	dir := t.TempDir()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	for _, d := range []string{root + "/in", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(root+"/in/data.csv", []byte("id,region\n1,eu\n2,us\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AIFLOW_HOME": filepath.Join(root, ".aiflow"), "AIFLOW_LOG_FORMAT": "text", "AIFLOW_LOG_LEVEL": "warn",
		pathguard.RootsEnv: root}
	run := func(name, sink string) (int, string) {
		spec := filepath.Join(root, name+".yaml")
		y := "api_version: aiflow/v1\npipeline: {id: " + name + ", owner: me, env: dev}\nnodes:\n" +
			"  - {id: src, source: files, with: {path: '" + root + "/in/data.csv', format: csv}}\n" +
			"  - {id: out, inputs: [src], " + sink + "}\n"
		if err := os.WriteFile(spec, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := cli.RunWith(&cli.Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
			Registry: plugin.Default, Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
			[]string{"run", "--pipeline", name, "--all", "--ir", spec})
		return code, stderr.String()
	}
	link := func(name, target string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	lake := filepath.Join(root, ".aiflow", "lake")
	tests := []struct {
		name  string
		plant func()
		sink  string
	}{
		{"partition", func() { link(root+"/out/part/region=eu", outside+"/part") },
			"sink: files, with: {path: '" + root + "/out/part/', format: csv, partition_by: [region]}"},
		{"metadir", func() { link(root+"/out/meta/_aiflow", outside+"/meta") },
			"sink: files, with: {path: '" + root + "/out/meta/', format: csv}"},
		{"deltalog", func() { link(lake+"/ns/logged/_delta_log", outside+"/deltalog") },
			"sink: onelake, with: {table: ns.logged}"},
		{"deltapart", func() { link(lake+"/ns/parted/region=us", outside+"/deltapart") },
			"sink: onelake, with: {table: ns.parted, partition_by: [region]}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.plant()
			if code, stderr := run(tt.name, tt.sink); code != 78 || !strings.Contains(stderr, "outside the allowed roots") {
				t.Errorf("exit %d\n%s", code, stderr)
			}
		})
	}
	var leaked []string
	filepath.WalkDir(outside, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			leaked = append(leaked, p)
		}
		return nil
	})
	if len(leaked) > 0 {
		t.Errorf("files written outside the allowed root: %v", leaked)
	}
	// A Delta table whose _delta_log leads out is not read either: write one inside, move its
	// log out and link it back.
	if code, stderr := run("good", "sink: onelake, with: {table: ns.good}"); code != 0 {
		t.Fatalf("a table inside the root: exit %d\n%s", code, stderr)
	}
	if err := os.Rename(lake+"/ns/good/_delta_log", outside+"/movedlog"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside+"/movedlog", lake+"/ns/good/_delta_log"); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(root, "readlink.yaml")
	y := "api_version: aiflow/v1\npipeline: {id: readlink, owner: me, env: dev}\nnodes:\n" +
		"  - {id: src, source: onelake, with: {table: ns.good}}\n" +
		"  - {id: out, inputs: [src], sink: files, with: {path: '" + root + "/out/read/', format: csv}}\n"
	if err := os.WriteFile(spec, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := cli.RunWith(&cli.Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Registry: plugin.Default, Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
		[]string{"run", "--pipeline", "readlink", "--all", "--ir", spec})
	if code != 78 || !strings.Contains(stderr.String(), "outside the allowed roots") {
		t.Errorf("onelake source through a link: exit %d\n%s", code, stderr.String())
	}
}
