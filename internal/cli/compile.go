package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aiflow-dev/aiflow/compiler"
	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
)

func init() {
	register(&command{name: "compile",
		summary: "write one Airflow DAG file per pipeline (exit 78 on invalid input; --check: exit 65 when files on disk are stale)",
		new:     func() any { return &compileCmd{} }})
}

type compileCmd struct {
	Paths    []string `arg:"" optional:"" name:"path" help:"spec or IR files, or folders of them"`
	Out      string   `name:"out" placeholder:"DIR" help:"folder the DAG files are written to (required)"`
	Target   string   `name:"target" default:"kubernetes" help:"kubernetes (a pod per task) or local (the runner binary on the Airflow worker)"`
	Profiles string   `name:"profiles" placeholder:"FILE" help:"deployment profiles YAML (default: the built-in dev profile, image aiflow-runner:dev, namespace default)"`
	Check    bool     `name:"check" help:"write nothing; fail when a DAG file in --out is missing, differs, or belongs to no pipeline"`
	Fuse     bool     `name:"fuse" help:"run each linear chain of nodes in one task"`
	Runner   string   `name:"runner" default:"aiflow-runner" placeholder:"PATH" help:"runner binary the tasks of target local execute"`
	Quiet    bool     `short:"q" help:"print nothing on success"`
	JSON     bool     `name:"json" help:"print one JSON object per DAG file per line (with --check too)"`
	Policy   string   `name:"policy" placeholder:"FILE" help:"tenant policy YAML enforced before any DAG is written (default $$AIFLOW_POLICY_FILE)"`
}

// CompileJSON is one line of `compile --json`: a DAG file and what compile did or found.
type CompileJSON struct {
	// State: written, unchanged; with --check: up_to_date, missing, stale, orphan (a generated DAG
	// of no pipeline compiled now).
	State    string `json:"state"`
	Path     string `json:"path"`
	Pipeline string `json:"pipeline,omitempty"`
	IRHash   string `json:"ir_hash,omitempty"`
}

func (c *compileCmd) Run(e *Env) error {
	e.liftMemoryLimit()
	if c.Out == "" {
		return fault.Usagef("compile: --out DIR is required")
	}
	t := compiler.Target(c.Target)
	if t != compiler.Kubernetes && t != compiler.Local {
		return fault.Usagef("compile: --target %q is not kubernetes or local%s", c.Target, ir.Suggest(c.Target, []string{string(compiler.Kubernetes), string(compiler.Local)}))
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	policyFile := c.Policy
	if policyFile == "" {
		policyFile = cfg.PolicyFile
	}
	opts := compiler.Options{Target: t, Fuse: c.Fuse, Runner: c.Runner}
	if c.Profiles != "" {
		if opts.Profiles, err = compiler.LoadProfiles(c.Profiles); err != nil {
			return err
		}
	}
	ls, err := e.loadValid(cfg, c.Paths)
	if err != nil {
		return err
	}
	// After loading: the pipelines' own plugin modules extend the registry.
	opts.Registry = e.Registry
	ps := make([]*ir.Pipeline, len(ls))
	validated := make(map[*ir.Pipeline][]byte, len(ls))
	for i, l := range ls {
		ps[i] = l.Spec.Pipeline
		// Loading validated its nodes and hashed its IR: compile does neither again, unless it
		// was validated with another registry (its own plugin modules, not all of them).
		if l.Registry == opts.Registry && l.Canonical != nil {
			validated[ps[i]] = l.Canonical
		}
	}
	opts.Validated = func(p *ir.Pipeline) ([]byte, bool) {
		canon, ok := validated[p]
		return canon, ok
	}
	// Tenant policy (internal/cli/policy.go): a pipeline it denies gets no DAG (exit 78).
	if err := checkPolicy(e, cfg, policyFile, ps, nil); err != nil {
		return err
	}
	var enc *json.Encoder
	if c.JSON {
		enc = json.NewEncoder(e.Stdout)
	}
	// One window of pipelines in memory at a time (compiler.CompileEach): 10,000 DAG files are
	// ~270 MB, which compile must not hold to write them.
	if c.Check {
		return checkDAGs(e, c.Out, ps, opts, c.Quiet, enc)
	}
	if err := writeDAGs(e, c.Out, ps, opts, c.Quiet, enc); err != nil {
		return err
	}
	// A compile is when a new version of a pipeline appears: with a metadata store configured
	// (AIFLOW_METADATA_DSN), its version is recorded there.
	if cfg.MetadataDSNSet {
		if err := recordVersions(e, ls); err != nil {
			return err
		}
	}
	for _, orphan := range orphans(c.Out, ps) {
		fmt.Fprintf(e.Stderr, "warning: %s is a generated DAG of no pipeline compiled now: delete it if its pipeline is gone\n", orphan)
	}
	return nil
}

// compiledDAG is one compiled file: staged beside its destination (tmp) when it differs from the
// file on disk, renamed over it once every pipeline has compiled; tmp is empty when unchanged.
type compiledDAG struct {
	tmp, path, pipeline, hash string
}

// writeDAGs writes every DAG file whose content differs from the file on disk, all or nothing: a
// changed file is staged as a temporary file in out while the rest compile, and the staged files
// are renamed into place only when every pipeline compiled (on an error they are removed). An
// unchanged file is not rewritten, so that Airflow does not reparse it.
func writeDAGs(e *Env, out string, ps []*ir.Pipeline, opts compiler.Options, quiet bool, enc *json.Encoder) error {
	var dags []compiledDAG // in the order of ps: CompileEach emits in that order
	defer func() {
		for _, d := range dags {
			if d.tmp != "" {
				os.Remove(d.tmp) // after a successful rename there is nothing left to remove
			}
		}
	}()
	madeOut := false
	err := compiler.CompileEach(ps, opts, func(file *compiler.File) error {
		d := compiledDAG{path: filepath.Join(out, file.Name), pipeline: file.Pipeline, hash: file.IRHash}
		if old, err := ir.ReadRegularFile(d.path, int64(len(file.Data))); err == nil && bytes.Equal(old, file.Data) {
			dags = append(dags, d)
			return nil
		}
		if !madeOut {
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fault.Wrap(fault.Config, err, "compile: --out")
			}
			madeOut = true
		}
		tmp, err := stageFile(d.path, file.Data)
		if err != nil {
			return fault.Wrap(fault.Temporary, err, "write %s", d.path)
		}
		d.tmp = tmp
		dags = append(dags, d)
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range dags {
		if d.tmp == "" {
			continue
		}
		if err := os.Rename(d.tmp, d.path); err != nil {
			return fault.Wrap(fault.Temporary, err, "write %s", d.path)
		}
	}
	if quiet && enc == nil {
		return nil
	}
	for _, d := range dags {
		l := CompileJSON{State: "unchanged", Path: d.path, Pipeline: d.pipeline, IRHash: d.hash}
		if d.tmp != "" {
			l.State = "written"
		}
		if enc != nil {
			if err := enc.Encode(l); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(e.Stdout, "%-9s %s  ir_hash %s\n", l.State, l.Path, short(l.IRHash))
	}
	return nil
}

// stageFile writes data to a new temporary file next to path (same folder: the rename that
// publishes it is atomic) and returns its name.
func stageFile(path string, data []byte) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// checkDAGs compares the files on disk with what compile would write.
// With enc, every file's state is also printed as a JSON line.
func checkDAGs(e *Env, out string, ps []*ir.Pipeline, opts compiler.Options, quiet bool, enc *json.Encoder) error {
	var stale []string
	var states []CompileJSON
	err := compiler.CompileEach(ps, opts, func(file *compiler.File) error {
		path := filepath.Join(out, file.Name)
		old, err := ir.ReadRegularFile(path, int64(len(file.Data))+1)
		state := "up_to_date"
		switch {
		case errors.Is(err, fs.ErrNotExist):
			state = "missing"
			stale = append(stale, path+": missing")
		case errors.Is(err, ir.ErrTooLarge):
			state = "stale"
			stale = append(stale, path+": stale (differs from the compiled pipeline "+file.Pipeline+")")
		case errors.Is(err, ir.ErrNotRegular):
			return fault.Wrap(fault.Config, err, "read %s", path)
		case err != nil:
			return fault.Wrap(fault.Temporary, err, "read %s", path)
		case !bytes.Equal(old, file.Data):
			state = "stale"
			stale = append(stale, path+": stale (differs from the compiled pipeline "+file.Pipeline+")")
		}
		states = append(states, CompileJSON{State: state, Path: path, Pipeline: file.Pipeline, IRHash: file.IRHash})
		return nil
	})
	if err != nil {
		return err
	}
	for _, orphan := range orphans(out, ps) {
		stale = append(stale, orphan+": generated DAG of no pipeline compiled now (delete it)")
		states = append(states, CompileJSON{State: "orphan", Path: orphan})
	}
	if enc != nil {
		for _, st := range states {
			if err := enc.Encode(st); err != nil {
				return err
			}
		}
		quiet = true
	}
	if len(stale) > 0 {
		return fault.Dataf("%d DAG file(s) out of date; run aiflow-runner compile without --check:\n%s", len(stale), strings.Join(stale, "\n"))
	}
	if !quiet {
		fmt.Fprintf(e.Stdout, "ok  %d DAG file(s) in %s are up to date\n", len(ps), out)
	}
	return nil
}

// orphans lists *.py files in out that carry the generated-code header but were not produced now.
func orphans(out string, ps []*ir.Pipeline) []string {
	want := make(map[string]bool, len(ps))
	for _, p := range ps {
		want[compiler.FileName(p.ID)] = true
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return nil
	}
	var found []string
	for _, ent := range entries {
		name := ent.Name()
		if !ent.Type().IsRegular() || !strings.HasSuffix(name, ".py") || want[name] {
			continue
		}
		path := filepath.Join(out, name)
		fh, err := os.Open(path)
		if err != nil {
			continue
		}
		head := make([]byte, len(compiler.Header))
		n, _ := fh.Read(head)
		fh.Close()
		if string(head[:n]) == compiler.Header {
			found = append(found, path)
		}
	}
	sort.Strings(found)
	return found
}
