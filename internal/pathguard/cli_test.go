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
	t.Setenv(pathguard.RootsEnv, root)
	env := map[string]string{"AIFLOW_HOME": filepath.Join(root, ".aiflow"), "AIFLOW_LOG_FORMAT": "text", "AIFLOW_LOG_LEVEL": "warn"}
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
