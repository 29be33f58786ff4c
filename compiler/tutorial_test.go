package compiler

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/testenv"
)

// tutorialStep is one command of docs/tutorial.md, or a file it has the reader write.
type tutorialStep struct {
	line     int      // in the tutorial
	command  string   // a shell command; empty for a file
	file     string   // the file to write, with content
	content  string   //
	want     []string // output lines the command must print, in order (… matches anything)
	wantExit int      // from a trailing "# exits N"
}

var exitsComment = regexp.MustCompile(`\s+#\s*exits (\d+)$`)

// parseTutorial reads the ```console blocks ("$ command" lines, each followed by the output lines
// it must print) and the blocks after a "<!-- file: NAME -->" line (files to write) of a tutorial.
func parseTutorial(t *testing.T, path string) []tutorialStep {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []tutorialStep
	var inConsole, inFile bool
	var fileName string
	var content strings.Builder
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case inConsole && line == "```":
			inConsole = false
		case inConsole && strings.HasPrefix(line, "$ "):
			s := tutorialStep{line: n, command: strings.TrimPrefix(line, "$ ")}
			if m := exitsComment.FindStringSubmatch(s.command); m != nil {
				s.wantExit, _ = strconv.Atoi(m[1])
				s.command = strings.TrimSuffix(s.command, m[0])
			}
			steps = append(steps, s)
		case inConsole:
			if len(steps) == 0 {
				t.Fatalf("%s:%d: output before any command", path, n)
			}
			if strings.TrimSpace(line) != "" {
				steps[len(steps)-1].want = append(steps[len(steps)-1].want, line)
			}
		case inFile && strings.HasPrefix(line, "```") && content.Len() > 0 || inFile && line == "```":
			steps = append(steps, tutorialStep{line: n, file: fileName, content: content.String()})
			inFile = false
		case inFile && strings.HasPrefix(line, "```"):
			// the opening fence
		case inFile:
			content.WriteString(line + "\n")
		case line == "```console":
			inConsole = true
		case strings.HasPrefix(line, "<!-- file: ") && strings.HasSuffix(line, " -->"):
			fileName = strings.TrimSuffix(strings.TrimPrefix(line, "<!-- file: "), " -->")
			inFile = true
			content.Reset()
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return steps
}

// outputPattern turns a shown output line into a regexp: … matches any text, trailing spaces
// do not count.
func outputPattern(line string) *regexp.Regexp {
	parts := strings.Split(strings.TrimRight(line, " "), "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^` + strings.Join(parts, ".*") + `\s*$`)
}

// TestTutorial runs every command of docs/tutorial.md in one bash session (so that cd and
// export carry over), in an empty folder, with the runner built from this checkout and the
// Airflow venv's bin folder on PATH, and checks each command's exit code and that the output
// lines the tutorial shows appear in order in what it printed. The only liberty taken: pip
// installs into a folder of this test (on PYTHONPATH) instead of into the shared Airflow venv
// (its build backend comes from pip's cache or index, as for scripts/install.sh python).
func TestTutorial(t *testing.T) {
	py := testenv.Require(t, testenv.AirflowPython)
	root, _ := filepath.Abs("..")
	steps := parseTutorial(t, filepath.Join(root, "docs", "tutorial.md"))
	if len(steps) < 10 {
		t.Fatalf("docs/tutorial.md: %d steps found; the parser or the page is broken", len(steps))
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "aiflow-runner"), "./cmd/aiflow-runner")
	build.Dir = root
	runLogged(t, build)
	site, outDir, work := filepath.Join(tmp, "site"), filepath.Join(tmp, "outputs"), filepath.Join(tmp, "work")
	for _, d := range []string{site, outDir, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var sh strings.Builder
	fmt.Fprintf(&sh, "pip() { %q -m pip \"$@\" --disable-pip-version-check --no-deps --target %q; }\n", py, site)
	for i, s := range steps {
		if s.file != "" {
			fmt.Fprintf(&sh, "cat > %q <<'TUTORIAL_EOF'\n%sTUTORIAL_EOF\n", s.file, s.content)
			continue
		}
		fmt.Fprintf(&sh, "{ %s\n} > %s 2>&1; echo $? > %s\n", s.command, filepath.Join(outDir, strconv.Itoa(i)), filepath.Join(outDir, strconv.Itoa(i)+".rc"))
	}
	script := filepath.Join(tmp, "tutorial.sh")
	if err := os.WriteFile(script, []byte(sh.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AIFLOW_") || strings.HasPrefix(k, "AIRFLOW") || k == "PYTHONPATH" || k == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	// pip builds in the source folder (setuptools' build/): give it a copy of python/.
	src := filepath.Join(tmp, "src")
	if err := os.CopyFS(filepath.Join(src, "python"), os.DirFS(filepath.Join(root, "python"))); err != nil {
		t.Fatal(err)
	}
	env = append(env, "AIFLOW_SRC="+src, "PYTHONPATH="+site, "PATH="+bin+":"+filepath.Dir(py)+":"+os.Getenv("PATH"))
	cmd := exec.Command("bash", "--norc", "--noprofile", script)
	cmd.Dir = work
	cmd.Env = env
	runLogged(t, cmd)

	for i, s := range steps {
		if s.file != "" {
			continue
		}
		where := fmt.Sprintf("docs/tutorial.md:%d: $ %s", s.line, s.command)
		out, err := os.ReadFile(filepath.Join(outDir, strconv.Itoa(i)))
		if err != nil {
			t.Fatalf("%s: did not run: %v", where, err)
		}
		rc, _ := os.ReadFile(filepath.Join(outDir, strconv.Itoa(i)+".rc"))
		if code, _ := strconv.Atoi(strings.TrimSpace(string(rc))); code != s.wantExit {
			t.Errorf("%s: exit %d, the tutorial says %d\n%s", where, code, s.wantExit, tail(out, 30))
			continue
		}
		lines := strings.Split(string(out), "\n")
		next := 0
		for _, w := range s.want {
			re := outputPattern(w)
			found := false
			for next < len(lines) && !found {
				found = re.MatchString(lines[next])
				next++
			}
			if !found {
				t.Errorf("%s: output lacks (in order) %q\n%s", where, w, tail(out, 40))
				break
			}
		}
	}
}
