package ui

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/aiflow-dev/aiflow/ir"
)

// specName is a spec file the UI may read or write: a plain name in SpecsDir, no folders.
var specName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.(yaml|yml|json)$`)

// maxSpec bounds a spec file or a draft the UI reads.
const maxSpec = 4 << 20

type specFile struct {
	Name     string `json:"name"`
	Pipeline string `json:"pipeline"`
	Team     string `json:"team"`
	IRHash   string `json:"ir_hash"`
	Problem  string `json:"problem,omitempty"`
}

// readSpec reads one spec of SpecsDir through an os.Root, so that a symlink cannot lead out of
// the folder.
func (s *Server) readSpec(name string) ([]byte, error) {
	root, err := os.OpenRoot(s.cfg.SpecsDir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fs.ErrNotExist
	}
	return io.ReadAll(io.LimitReader(f, maxSpec))
}

func (s *Server) specs(w http.ResponseWriter, r *http.Request) {
	out := []specFile{}
	if s.cfg.SpecsDir == "" {
		writeJSON(w, out)
		return
	}
	ents, err := os.ReadDir(s.cfg.SpecsDir)
	if err != nil {
		fail(w, err)
		return
	}
	u := userOf(r)
	for _, e := range ents {
		if !specName.MatchString(e.Name()) {
			continue
		}
		b, err := s.readSpec(e.Name())
		if err != nil {
			continue
		}
		specs, ps := ir.Parse(e.Name(), b, true)
		for _, sp := range specs {
			if !u.sees(sp.Pipeline.Tenant("team")) {
				continue
			}
			f := specFile{Name: e.Name(), Pipeline: sp.Pipeline.ID, Team: sp.Pipeline.Tenant("team")}
			if h, err := sp.Pipeline.Hash(); err == nil {
				f.IRHash = h
			}
			out = append(out, f)
		}
		if len(specs) == 0 && len(ps) > 0 && u.Admin {
			out = append(out, specFile{Name: e.Name(), Problem: ps[0].String()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, out)
}

// spec opens an existing spec as a draft (the first pipeline of the file).
func (s *Server) spec(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.cfg.SpecsDir == "" || !specName.MatchString(name) {
		writeErr(w, http.StatusNotFound, "no such spec")
		return
	}
	b, err := s.readSpec(name)
	if err != nil {
		fail(w, err)
		return
	}
	specs, ps := ir.Parse(name, b, false)
	if len(specs) == 0 {
		msg := "no pipeline in " + name
		if len(ps) > 0 {
			msg = ps.Error()
		}
		writeErr(w, http.StatusUnprocessableEntity, msg)
		return
	}
	p := specs[0].Pipeline
	if !userOf(r).sees(p.Tenant("team")) {
		writeErr(w, http.StatusNotFound, "no such spec")
		return
	}
	// A spec that validates holds secret references only; one that does not may hold a literal
	// password: it does not reach the browser either (saving it back keeps it refused).
	d := DraftOf(p)
	for i := range d.Nodes {
		if d.Nodes[i].With != nil {
			d.Nodes[i].With = redactParams(d.Nodes[i].With)
		}
	}
	writeJSON(w, map[string]any{"name": name, "draft": d})
}

func readDraft(r *http.Request) (Draft, error) {
	var d Draft
	dec := json.NewDecoder(io.LimitReader(r.Body, maxSpec))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return d, err
	}
	for i := range d.Nodes {
		d.Nodes[i].With = plainMap(d.Nodes[i].With)
		d.Nodes[i].Resources = plainMap(d.Nodes[i].Resources)
		d.Nodes[i].OutputSchema = plainMap(d.Nodes[i].OutputSchema)
	}
	d.Pipeline.Params = plainMap(d.Pipeline.Params)
	d.Pipeline.Extra = plainMap(d.Pipeline.Extra)
	return d, nil
}

func plainMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return plain(m).(map[string]any)
}

// check validates a draft: its YAML, its ir_hash or its problems, as the form is typed.
func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	d, err := readDraft(r)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "draft: "+err.Error())
		return
	}
	c, err := Check(s.cfg.Registry, s.cfg.Envs, "draft.yaml", d)
	if err != nil {
		fail(w, err)
		return
	}
	if c.IRHash != "" && !userOf(r).sees(d.Pipeline.Team) {
		c.Problems = append(c.Problems, Problem{Msg: "team " + quoteTeam(d.Pipeline.Team) + " is not one of yours"})
	}
	writeJSON(w, c)
}

func quoteTeam(t string) string {
	if t == "" {
		return "(none)"
	}
	return `"` + t + `"`
}

// saveSpec writes a valid draft to SpecsDir/name, replacing the file atomically. Only a user
// who sees the draft's team may save it, and only over a file of a team they see.
func (s *Server) saveSpec(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.cfg.SpecsDir == "" {
		writeErr(w, http.StatusForbidden, "read-only: start the UI with --specs DIR to save specs")
		return
	}
	if !specName.MatchString(name) || strings.HasSuffix(name, ".json") {
		writeErr(w, http.StatusBadRequest, "a spec name is a plain file name ending in .yaml or .yml")
		return
	}
	d, err := readDraft(r)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "draft: "+err.Error())
		return
	}
	u := userOf(r)
	if !u.sees(d.Pipeline.Team) {
		writeErr(w, http.StatusForbidden, "team "+quoteTeam(d.Pipeline.Team)+" is not one of yours")
		return
	}
	if old, err := s.readSpec(name); err == nil {
		specs, _ := ir.Parse(name, old, true)
		for _, sp := range specs {
			if !u.sees(sp.Pipeline.Tenant("team")) {
				writeErr(w, http.StatusForbidden, name+" holds a pipeline of another team")
				return
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		fail(w, err)
		return
	}
	c, err := Check(s.cfg.Registry, s.cfg.Envs, name, d)
	if err != nil {
		fail(w, err)
		return
	}
	if c.IRHash == "" {
		w.WriteHeader(http.StatusUnprocessableEntity)
		writeJSON(w, c)
		return
	}
	if err := s.writeSpec(name, []byte(c.YAML)); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, map[string]any{"name": name, "path": filepath.Join(s.cfg.SpecsDir, name), "ir_hash": c.IRHash, "yaml": c.YAML})
}

// writeSpec writes through an os.Root (no symlink out of the folder), to a temporary file
// renamed over the old one: a reader never sees half a spec.
func (s *Server) writeSpec(name string, b []byte) error {
	root, err := os.OpenRoot(s.cfg.SpecsDir)
	if err != nil {
		return err
	}
	defer root.Close()
	tmp := "." + name + ".tmp"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return root.Rename(tmp, name)
}
