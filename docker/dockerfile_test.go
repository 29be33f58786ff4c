// Package docker holds the runner images. No Docker engine runs in the tests, so this test lints
// the Dockerfiles instead: it parses them into instructions and checks what a cluster relies on
// (non-root user, static binary, pinned bases and packages, nothing fetched from URLs);
// `make verify-static` proves the binary alone runs in an empty root.
package docker

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, COPY, …
	args string
}

// parse reads a Dockerfile: comments and blank lines dropped, backslash continuations joined.
func parse(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // a comment inside a continuation
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends inside a line continuation", path)
	}
	return out
}

// stage is one FROM … section.
type stage struct {
	from  instruction
	image string
	name  string
	body  []instruction
}

func stages(t *testing.T, path string) []stage {
	t.Helper()
	var out []stage
	for _, in := range parse(t, path) {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			var s stage
			s.from = in
			for _, x := range f {
				if strings.HasPrefix(x, "--") {
					continue
				}
				if s.image == "" {
					s.image = x
				}
			}
			if len(f) >= 3 && strings.EqualFold(f[len(f)-2], "AS") {
				s.name = f[len(f)-1]
			}
			out = append(out, s)
			continue
		}
		if len(out) == 0 {
			if in.cmd != "ARG" {
				t.Errorf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
			}
			continue
		}
		out[len(out)-1].body = append(out[len(out)-1].body, in)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no FROM", path)
	}
	return out
}

var (
	urlRE       = regexp.MustCompile(`(?i)\b(https?|ftp)://`)
	pipPkgRE    = regexp.MustCompile(`"?([A-Za-z0-9_.\-\[\]]+)((==|>=|<=|~=|>|<)[^\s"]*)?"?`)
	knownInstrs = map[string]bool{"FROM": true, "RUN": true, "CMD": true, "LABEL": true, "EXPOSE": true, "ENV": true, "ADD": true,
		"COPY": true, "ENTRYPOINT": true, "VOLUME": true, "USER": true, "WORKDIR": true, "ARG": true, "ONBUILD": true,
		"STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true}
)

func checkDockerfile(t *testing.T, path string) (final stage) {
	t.Helper()
	ss := stages(t, path)
	names := map[string]bool{}
	for _, s := range ss {
		if s.name != "" {
			names[s.name] = true
		}
		img := s.image
		if !strings.Contains(img, ":") && !strings.Contains(img, "@") && !names[img] {
			t.Errorf("%s:%d: FROM %s has no tag: pin the base image", path, s.from.line, img)
		}
		if strings.HasSuffix(img, ":latest") {
			t.Errorf("%s:%d: FROM %s: pin a version, not latest", path, s.from.line, img)
		}
		for _, in := range s.body {
			if !knownInstrs[in.cmd] {
				t.Errorf("%s:%d: unknown instruction %q", path, in.line, in.cmd)
			}
			if in.cmd == "ADD" && urlRE.MatchString(in.args) {
				t.Errorf("%s:%d: ADD of a URL: fetch nothing unverified at build time", path, in.line)
			}
			if in.cmd == "RUN" && regexp.MustCompile(`\b(curl|wget)\b`).MatchString(in.args) {
				t.Errorf("%s:%d: RUN downloads with curl/wget: use pinned packages", path, in.line)
			}
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				if !strings.Contains(in.args, "CGO_ENABLED=0") || !strings.Contains(in.args, "-trimpath") {
					t.Errorf("%s:%d: go build must be CGO_ENABLED=0 with -trimpath (a static runner)", path, in.line)
				}
				if !strings.Contains(in.args, "internal/cli.version=") {
					t.Errorf("%s:%d: go build does not stamp the version (-X …/internal/cli.version=)", path, in.line)
				}
			}
			if in.cmd == "RUN" && strings.Contains(in.args, "pip install") {
				for _, cmd := range strings.Split(in.args, "&&") {
					_, rest, ok := strings.Cut(cmd, "pip install")
					if !ok {
						continue
					}
					for _, arg := range strings.Fields(rest) {
						if strings.HasPrefix(arg, "-") || strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
							continue // flags and local folders
						}
						m := pipPkgRE.FindStringSubmatch(arg)
						if m == nil || !strings.HasPrefix(m[2], "==") {
							t.Errorf("%s:%d: pip install %s: pin it with ==", path, in.line, arg)
						}
					}
				}
			}
			if in.cmd == "COPY" && !strings.Contains(in.args, "--from=") {
				f := strings.Fields(in.args)
				for _, src := range f[:len(f)-1] {
					if strings.HasPrefix(src, "--") {
						continue
					}
					if _, err := os.Stat(filepath.Join("..", src)); err != nil {
						t.Errorf("%s:%d: COPY %s: not in the repository (the build context is its root)", path, in.line, src)
					}
				}
			}
		}
	}
	final = ss[len(ss)-1]
	user := ""
	var entry *instruction
	for i, in := range final.body {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = &final.body[i]
		}
	}
	u, _, _ := strings.Cut(user, ":")
	switch u {
	case "":
		t.Errorf("%s: the final stage sets no USER: it would run as root", path)
	case "root", "0":
		t.Errorf("%s: the final stage runs as %s", path, user)
	}
	if entry == nil {
		t.Errorf("%s: the final stage has no ENTRYPOINT", path)
	} else if !strings.HasPrefix(entry.args, "[") || !strings.Contains(entry.args, "aiflow-runner") {
		t.Errorf("%s:%d: ENTRYPOINT %s: use the exec form running aiflow-runner (so SIGTERM reaches it)", path, entry.line, entry.args)
	}
	return final
}

func TestDockerfile(t *testing.T) {
	final := checkDockerfile(t, "Dockerfile")
	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") && final.image != "scratch" {
		t.Errorf("Dockerfile: final base %s: want distroless static (or scratch)", final.image)
	}
	if !strings.Contains(final.image, "nonroot") {
		t.Errorf("Dockerfile: final base %s: want the :nonroot variant", final.image)
	}
	for _, in := range final.body {
		if in.cmd == "RUN" {
			t.Errorf("Dockerfile:%d: RUN in the final stage: a distroless image has no shell", in.line)
		}
	}
}

func TestDockerfilePython(t *testing.T) {
	final := checkDockerfile(t, "Dockerfile.python")
	if !strings.HasPrefix(final.image, "python:3.11") {
		t.Errorf("Dockerfile.python: final base %s: want python:3.11", final.image)
	}
	var pyarrow, sdk bool
	for _, in := range final.body {
		if in.cmd == "RUN" && strings.Contains(in.args, "pyarrow==") {
			pyarrow = true
		}
		if in.cmd == "RUN" && strings.Contains(in.args, "pip install /src/python") {
			sdk = true
		}
	}
	if !pyarrow || !sdk {
		t.Errorf("Dockerfile.python: want pinned pyarrow (%t) and aiflow_sdk installed from /src/python (%t)", pyarrow, sdk)
	}
}

// TestPinsMatchInstall keeps the image's Python pins equal to those the tests run with.
func TestPinsMatchInstall(t *testing.T) {
	b, err := os.ReadFile("../scripts/install.sh")
	if err != nil {
		t.Skip("no scripts/install.sh")
	}
	df, err := os.ReadFile("Dockerfile.python")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"PYARROW", "PANDAS", "PYSPARK_CLIENT"} {
		m := regexp.MustCompile(`(?m)^` + pkg + `_VERSION=(\S+)`).FindSubmatch(b)
		if m == nil {
			continue
		}
		want := strings.ReplaceAll(strings.ToLower(pkg), "_", "-") + "==" + string(m[1])
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile.python does not pin %s (scripts/install.sh does)", want)
		}
	}
	// The Spark Connect client's gRPC pins, too.
	if m := regexp.MustCompile(`(?m)^PYSPARK_CLIENT_PINS="([^"]*)"`).FindSubmatch(b); m != nil {
		for _, want := range strings.Fields(string(m[1])) {
			if !strings.Contains(string(df), want) {
				t.Errorf("Dockerfile.python does not pin %s (scripts/install.sh does)", want)
			}
		}
	}
}

// runnerDirs lists the top-level folders of the repository the runner is built from.
func runnerDirs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../cmd/aiflow-runner").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/aiflow-dev/aiflow/"
	seen := map[string]bool{}
	var dirs []string
	for _, p := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(p, mod)
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(rest, "/")
		if !seen[top] {
			seen[top] = true
			dirs = append(dirs, top)
		}
	}
	return dirs
}

// TestDockerignore checks that the build context keeps what the build needs.
func TestDockerignore(t *testing.T) {
	for _, name := range []string{"Dockerfile.dockerignore", "Dockerfile.python.dockerignore"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		need := []string{"!go.mod", "!go.sum"}
		for _, dir := range runnerDirs(t) {
			need = append(need, "!"+dir+"/")
		}
		for _, need := range need {
			if !strings.Contains(string(b), need) {
				t.Errorf("%s: the build needs %s", name, strings.TrimPrefix(need, "!"))
			}
		}
	}
}

// TestDockerfileVersion: an image built without --build-arg VERSION carries the one release
// (python/pyproject.toml's version, the SDK's too), not a placeholder. The build stage's own
// version line is run by sh in the repository root, as the build runs it.
func TestDockerfileVersion(t *testing.T) {
	pyproject, err := os.ReadFile(filepath.Join("..", "python", "pyproject.toml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^version = "([^"]+)"$`).FindSubmatch(pyproject)
	if m == nil {
		t.Fatal("python/pyproject.toml has no version")
	}
	release := string(m[1])
	for _, path := range []string{"Dockerfile", "Dockerfile.python"} {
		var line string
		for _, in := range parse(t, path) {
			if in.cmd == "ARG" && strings.HasPrefix(in.args, "VERSION") && in.args != "VERSION=" && in.args != "VERSION" {
				t.Errorf("%s:%d: ARG %s: leave it empty so the build reads python/pyproject.toml", path, in.line, in.args)
			}
			if in.cmd == "RUN" && strings.Contains(in.args, "cli.version=${VERSION}") {
				line = in.args
			}
		}
		if line == "" {
			t.Errorf("%s: no RUN builds the runner with cli.version=${VERSION}", path)
			continue
		}
		// The first command of the RUN (after its --mount options) sets VERSION.
		var words []string
		for _, w := range strings.Split(line, " ") {
			if !strings.HasPrefix(w, "--mount=") {
				words = append(words, w)
			}
		}
		first, _, _ := strings.Cut(strings.TrimSpace(strings.Join(words, " ")), " && ")
		if !strings.HasPrefix(first, `VERSION="${VERSION:-`) {
			t.Errorf("%s: the runner's RUN starts with %.60q, not the VERSION default from python/pyproject.toml", path, first)
			continue
		}
		for _, tc := range []struct{ arg, want string }{{"", release}, {"9.9.9", "9.9.9"}} {
			cmd := exec.Command("sh", "-c", first+`; printf %s "$VERSION"`)
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "VERSION="+tc.arg)
			out, err := cmd.CombinedOutput()
			if err != nil || string(out) != tc.want {
				t.Errorf("%s: with VERSION=%q the build's version is %q (%v), want %q", path, tc.arg, out, err, tc.want)
			}
		}
	}
}
