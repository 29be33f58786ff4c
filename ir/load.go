package ir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"
)

// Spec is one loaded pipeline and where it came from, so that later checks (plugin configs,
// policy) can report `file:line:` too.
type Spec struct {
	Pipeline *Pipeline
	File     string
	Line     int
	nodeLine map[string]int
	// paramLine holds the line of each top-level key of a node's params ("" = the params block).
	paramLine map[string]map[string]int
	// fieldLine holds the line of each key of the pipeline mapping (schedule, sla_minutes, …).
	fieldLine map[string]int
}

// NodeLine is the line where node id is declared (or the pipeline's line).
func (s *Spec) NodeLine(id string) int {
	if l := s.nodeLine[id]; l > 0 {
		return l
	}
	return s.Line
}

// ParamLine is the line of params key `key` of node id (or the node's line). The key may be a
// path into the params ("steps[1]", "steps[1].group_by.aggs"): the line of the deepest part of
// it that was recorded.
func (s *Spec) ParamLine(id, key string) int {
	for {
		if l := s.paramLine[id][key]; l > 0 {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i <= 0 {
			break
		}
		key = key[:i]
	}
	return s.NodeLine(id)
}

// Locate fills in the file and line of a problem found in this spec. Field, when set, is the
// top-level params key the problem is about, or for a pipeline-level problem (no node) the
// pipeline key (schedule, sla_minutes).
func (s *Spec) Locate(p Problem, field string) Problem {
	p.File = s.File
	if p.Pipeline == "" && s.Pipeline != nil {
		p.Pipeline = s.Pipeline.ID
	}
	if p.Line == 0 {
		switch {
		case p.Node != "" && field != "":
			p.Line = s.ParamLine(p.Node, field)
		case p.Node != "":
			p.Line = s.NodeLine(p.Node)
		case field != "" && s.fieldLine[field] > 0:
			p.Line = s.fieldLine[field]
		default:
			p.Line = s.Line
		}
	}
	return p
}

// SpecExtensions are the file extensions a folder load picks up.
var SpecExtensions = []string{".yaml", ".yml", ".json"}

// LoadPaths loads every file or folder named. Folders are walked recursively for *.yaml, *.yml
// and *.json, skipping hidden entries and files that are not aiflow documents (no api_version,
// pipeline or nodes key at the top). It returns every spec that decoded and every problem met,
// in the order of the paths (a folder's files sorted). Files are parsed concurrently.
func LoadPaths(paths []string) ([]*Spec, Problems) {
	type job struct {
		path        string
		skipForeign bool
		specs       []*Spec
		ps          Problems
	}
	var jobs []*job
	failed := func(root string, err error) { jobs = append(jobs, &job{ps: Problems{{File: root, Msg: errMsg(err)}}}) }
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			failed(root, err)
			continue
		}
		if !info.IsDir() {
			jobs = append(jobs, &job{path: root}) // LoadFile refuses anything but a regular file
			continue
		}
		var files []string
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "__pycache__" || name == "node_modules") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && hasExt(name) && (d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0) {
				files = append(files, path) // a pipe or a device named *.yaml is not a spec
			}
			return nil
		})
		if err != nil {
			failed(root, err)
		}
		sort.Strings(files)
		for _, f := range files {
			jobs = append(jobs, &job{path: f, skipForeign: true})
		}
	}
	work := make(chan *job)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				j.specs, j.ps = LoadFile(j.path, j.skipForeign)
			}
		}()
	}
	for _, j := range jobs {
		if j.path != "" {
			work <- j
		}
	}
	close(work)
	wg.Wait()
	var specs []*Spec
	var ps Problems
	for _, j := range jobs {
		specs, ps = append(specs, j.specs...), append(ps, j.ps...)
	}
	return specs, ps
}

func errMsg(err error) string {
	var pe *fs.PathError
	if ok := asPathErr(err, &pe); ok {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

func asPathErr(err error, target **fs.PathError) bool {
	pe, ok := err.(*fs.PathError)
	if ok {
		*target = pe
	}
	return ok
}

func hasExt(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range SpecExtensions {
		if ext == e {
			return true
		}
	}
	return false
}

// LoadFile loads one file. With skipForeign, a document that is not an aiflow spec is ignored.
func LoadFile(path string, skipForeign bool) ([]*Spec, Problems) {
	data, err := ReadRegularFile(path, MaxSpecSize)
	if errors.Is(err, ErrTooLarge) {
		return nil, Problems{{File: path, Line: 1, Msg: fmt.Sprintf("file is larger than the %d MiB limit for specs", MaxSpecSize>>20)}}
	}
	if err != nil {
		return nil, Problems{{File: path, Msg: errMsg(err)}}
	}
	return Parse(path, data, skipForeign)
}

// ErrTooLarge is returned by ReadRegularFile for a file over its limit.
var ErrTooLarge = errors.New("file too large")

// ErrNotRegular is returned by ReadRegularFile for a named pipe, a device or a socket.
var ErrNotRegular = errors.New("not a regular file")

// ReadRegularFile reads a whole regular file of at most max bytes. A named pipe, a device or a
// socket is refused without blocking: opened non-blocking, checked with fstat on the descriptor
// it opened (no window between a check and the open), so a FIFO among the specs, a policy or a
// mounted secret cannot hang validate, compile or a pod.
func ReadRegularFile(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, fileKind(fi.Mode()))}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	return data, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a folder"
	}
	return m.Type().String()
}

// Parse decodes the bytes of a spec or IR file named name (the name picks YAML or JSON).
func Parse(name string, data []byte, skipForeign bool) ([]*Spec, Problems) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, Problems{{File: name, Line: 1, Msg: "file is empty"}}
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, size := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			off += size
		}
		return nil, Problems{{File: name, Line: 1 + bytes.Count(data[:off], []byte("\n")), Msg: fmt.Sprintf("file is not valid UTF-8 (byte 0x%02x at offset %d)", data[off], off)}}
	}
	var docs []*value
	var err error
	if strings.EqualFold(filepath.Ext(name), ".json") {
		docs, err = parseJSON(data)
	} else {
		docs, err = parseYAML(data)
	}
	if err != nil {
		pe, _ := err.(*parseError)
		if pe == nil {
			pe = &parseError{msg: err.Error()}
		}
		return nil, Problems{{File: name, Line: pe.line, Msg: pe.msg}}
	}
	if len(docs) == 0 {
		return nil, Problems{{File: name, Line: 1, Msg: "file holds no document"}}
	}
	var specs []*Spec
	var ps Problems
	for _, doc := range docs {
		if doc.kind != vMap {
			if skipForeign {
				continue
			}
			ps = append(ps, Problem{File: name, Line: doc.line, Msg: fmt.Sprintf("top level must be a mapping, not a %s", doc.kind)})
			continue
		}
		_, hasAPI := doc.get("api_version")
		_, hasPipeline := doc.get("pipeline")
		_, hasNodes := doc.get("nodes")
		if skipForeign && hasAPI == 0 && hasPipeline == 0 && hasNodes == 0 {
			continue
		}
		d := &decoder{file: name}
		var s *Spec
		if hasPipeline > 0 {
			s = d.authoring(doc)
		} else {
			s = d.irDoc(doc)
		}
		ps = append(ps, d.problems...)
		if s != nil && len(d.problems) == 0 {
			s.Pipeline.Normalize()
			specs = append(specs, s)
		}
	}
	return specs, ps
}
