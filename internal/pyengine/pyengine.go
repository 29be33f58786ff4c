// Package pyengine is the python engine (the seed's engine="python", fn="module:function"): the
// runner starts `python -m aiflow_sdk.runtime REQUEST` with the interpreter of AIFLOW_PYTHON,
// streams each input to it as an Arrow IPC stream through a FIFO (never one giant buffer), and
// reads the function's output back as an Arrow IPC stream into staging. The aiflow_sdk package the
// subprocess imports is the copy embedded in the runner (package python), so the two sides always
// speak the same protocol.
package pyengine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/python"
)

// Register adds the python engine to r.
func Register(r *plugin.Registry) { plugin.RegisterEngine(r, Kind, Engine{}) }

var _ plugin.Engine[*Config, *plugin.PodResources] = Engine{}

// Engine is the python transform runtime.
type Engine struct{}

// Exit codes of aiflow_sdk.runtime.
const (
	exitBadRequest = 2
	exitUserError  = 3
	exitBadResult  = 4
	exitOutput     = 5
)

// PythonPathEnv lists extra folders (colon-separated) prepended to the subprocess's sys.path,
// where the users' modules (etl_jobs/…) live. The working directory is always on it.
const PythonPathEnv = "AIFLOW_PYTHONPATH"

type request struct {
	Fn        string            `json:"fn"`
	Params    map[string]any    `json:"params"`
	Inputs    map[string]string `json:"inputs"`
	Output    string            `json:"output"`
	ErrorFile string            `json:"error_file"`
	SysPath   []string          `json:"sys_path"`
}

type pyError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	LastLine  string `json:"last_line"`
	Traceback string `json:"traceback"`
}

// Transform runs the node's function.
func (Engine) Transform(ctx context.Context, env *plugin.Env, cfg *Config, _ *plugin.PodResources) (*plugin.Output, error) {
	work, err := os.MkdirTemp("", "aiflow-python-")
	if err != nil {
		return nil, fmt.Errorf("python engine: temp dir: %w", err)
	}
	defer os.RemoveAll(work)
	sdkDir := filepath.Join(work, "sdk")
	if err := extractSDK(sdkDir); err != nil {
		return nil, err
	}
	req := request{Fn: cfg.Function(), Params: cfg.Rest, Inputs: map[string]string{}, Output: filepath.Join(work, "output.arrows"),
		ErrorFile: filepath.Join(work, "error.json"), SysPath: SysPath(env.Config.PythonPath)}
	if req.Params == nil {
		req.Params = map[string]any{}
	}
	// The function gets secret values, not "${...}" references: resolved here, each value
	// registered with the redactor first (request.json is private to this attempt, mode 0600).
	params, err := plugin.ResolveRefs(req.Params, env.Config.SecretsDir, env.Redact.Add)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "python params")
	}
	req.Params = params.(map[string]any)
	for _, id := range env.InputOrder {
		fifo := filepath.Join(work, "in-"+manifest.Seg(id)+".arrows")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			return nil, fmt.Errorf("python engine: mkfifo: %w", err)
		}
		req.Inputs[id] = fifo
	}
	reqPath := filepath.Join(work, "request.json")
	b, _ := json.Marshal(req)
	if err := os.WriteFile(reqPath, b, 0o600); err != nil {
		return nil, err
	}

	timeout := cfg.Timeout.Duration
	if timeout <= 0 {
		timeout = time.Hour
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	interp := env.Config.Python
	cmd := exec.CommandContext(pctx, interp, "-m", "aiflow_sdk.runtime", reqPath)
	// The child inherits the pod's environment (PATH, HOME, locale, its libraries' own settings);
	// the runner's settings reach it through SubprocessEnv and the request, not from here.
	cmd.Env = append(os.Environ(), SubprocessEnv(env, sdkDir)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fault.Configf("python engine: interpreter %q not found (set AIFLOW_PYTHON)", interp)
		}
		return nil, fault.Wrap(fault.Temporary, err, "python engine: start %s", interp)
	}
	var logs sync.WaitGroup
	var tail TailBuffer
	// The function's prints are info; its stderr (warnings, the traceback) is warn.
	for i, r := range []io.Reader{stdout, stderr} {
		level := slog.LevelInfo
		if i == 1 {
			level = slog.LevelWarn
		}
		logs.Add(1)
		go func(r io.Reader, level slog.Level) {
			defer logs.Done()
			relayLines(ctx, env, r, level, &tail)
		}(r, level)
	}

	// Feed every input concurrently (the runtime reads them in order); a feeder blocked on a FIFO
	// nobody opens (the function failed early) is released when the process exits.
	var feed sync.WaitGroup
	feedErrs := make([]error, len(env.InputOrder))
	counters := make([]*readers.Counter, len(env.InputOrder))
	done := make(chan struct{})
	for i, id := range env.InputOrder {
		feed.Add(1)
		counters[i] = &readers.Counter{Watch: env.ReadProgress(id)}
		go func(i int, id string) {
			defer feed.Done()
			feedErrs[i] = feedInput(pctx, env, id, req.Inputs[id], counters[i], done)
		}(i, id)
	}
	logs.Wait()
	waitErr := cmd.Wait()
	close(done)
	for _, fifo := range req.Inputs {
		unblockWriter(fifo)
	}
	feed.Wait()

	// An input that could not be read (an S3 timeout, say) cuts the stream the function reads,
	// so the function fails too; the input's error is the cause and decides the class.
	for i, err := range feedErrs {
		// A feed cut by the function's timeout or by SIGTERM is a consequence, not the cause.
		if err != nil && waitErr != nil && !fault.IsCancel(err) {
			return nil, fmt.Errorf("python engine: feed input %s: %w", env.InputOrder[i], err)
		}
	}
	if err := classifyExit(ctx, pctx, waitErr, req.ErrorFile, timeout, &tail); err != nil {
		return nil, err
	}
	for i, err := range feedErrs {
		if err != nil {
			return nil, fmt.Errorf("python engine: feed input %s: %w", env.InputOrder[i], err)
		}
	}
	out, err := readOutput(ctx, env, req.Output)
	if err != nil {
		return nil, err
	}
	for _, c := range counters {
		out.RowsIn += c.Rows.Load()
		out.BytesIn += c.Bytes.Load()
	}
	return out, nil
}

// ChildPythonPath is PYTHONPATH for a Python subprocess: the embedded SDK's folder first (so
// the runner's own aiflow_sdk wins over an installed one), then the PYTHONPATH the runner was given.
func ChildPythonPath(sdkDir string) string { return sdkDir + pathListSep(os.Getenv("PYTHONPATH")) }

func pathListSep(rest string) string {
	if rest == "" {
		return ""
	}
	return string(os.PathListSeparator) + rest
}

func extractSDK(dir string) error { return ExtractSDK(dir) }

// ExtractSDK writes the embedded aiflow_sdk package into dir (dir/aiflow_sdk/…), the folder a
// subprocess puts first on PYTHONPATH.
func ExtractSDK(dir string) error {
	return fs.WalkDir(python.SDK, "aiflow_sdk", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, p)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := python.SDK.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// feedInput streams one input manifest into a FIFO as an Arrow IPC stream.
func feedInput(ctx context.Context, env *plugin.Env, id, fifo string, c *readers.Counter, done <-chan struct{}) error {
	f, err := openWriter(ctx, fifo, done)
	if err != nil || f == nil {
		return err
	}
	defer f.Close()
	rr, _, err := readers.Reader(ctx, env.Store, env.Config, env.Inputs[id], c, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer rr.Release()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := ipc.NewWriter(bw, ipc.WithSchema(rr.Schema()))
	for rr.Next() {
		if err := w.Write(rr.RecordBatch()); err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return nil // the function stopped reading: its exit status tells
			}
			return err
		}
	}
	if err := rr.Err(); err != nil {
		return err
	}
	if err := w.Close(); err != nil && !errors.Is(err, syscall.EPIPE) {
		return err
	}
	if err := bw.Flush(); err != nil && !errors.Is(err, syscall.EPIPE) {
		return err
	}
	return nil
}

// openWriter opens the write end of a FIFO once the subprocess opens its read end. A blocking
// open would wait forever when the process exits without opening it before the feeder got there
// (unblockWriter then comes too early), so it polls without blocking. nil, nil: the process is
// gone without reading this input.
func openWriter(ctx context.Context, fifo string, done <-chan struct{}) (*os.File, error) {
	for {
		select {
		case <-done:
			return nil, nil
		default:
		}
		f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			// Writes wait for the reader through the runtime's poller: the fd stays non-blocking.
			return f, nil
		}
		if !errors.Is(err, syscall.ENXIO) {
			return nil, err
		}
		select {
		case <-done:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// unblockWriter releases a feeder stuck opening a FIFO for writing by opening its read end.
func unblockWriter(fifo string) {
	f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err == nil {
		_, _ = io.Copy(io.Discard, f)
		f.Close()
	}
}

// classifyExit maps the subprocess's end to the runner's error classes.
func classifyExit(ctx, pctx context.Context, waitErr error, errorFile string, timeout time.Duration, tail *TailBuffer) error {
	if waitErr == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fault.Wrap(fault.Temporary, ctx.Err(), "python engine: interrupted")
	}
	if errors.Is(pctx.Err(), context.DeadlineExceeded) {
		return fault.Temporaryf("python engine: the function ran longer than its timeout %s and was killed; no output kept", timeout)
	}
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) {
		return fault.Wrap(fault.Temporary, waitErr, "python engine")
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fault.Temporaryf("python engine: the subprocess was killed by %s (out of memory?); no output kept", ws.Signal())
	}
	var pe pyError
	if b, err := os.ReadFile(errorFile); err == nil {
		_ = json.Unmarshal(b, &pe)
	}
	msg := pe.LastLine
	if msg == "" {
		msg = tail.Last()
	}
	switch ee.ExitCode() {
	case exitUserError:
		return fault.Dataf("python function raised: %s", msg)
	case exitBadResult:
		return fault.Dataf("python function returned no table: %s", msg)
	case exitBadRequest:
		return fault.Configf("python engine: %s", msg)
	case exitOutput:
		return fault.Dataf("python engine: could not write the output: %s", msg)
	}
	return fault.Dataf("python engine: exit %d: %s", ee.ExitCode(), msg)
}

// readOutput streams the output IPC stream into staging.
func readOutput(ctx context.Context, env *plugin.Env, path string) (*plugin.Output, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fault.Dataf("python engine: the function produced no output stream")
	}
	defer f.Close()
	rd, err := ipc.NewReader(bufio.NewReaderSize(f, 1<<20), ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, fault.Wrap(fault.Data, err, "python engine: read output")
	}
	defer rd.Release()
	// The output's checks measure each batch on its way to staging.
	files, err := dataset.WriteFiles(ctx, env.Store, env.OutDir, env.Audit.Watch(ctx, rd), dataset.WriteOptions{Format: dataset.Parquet, FilePrefix: "out", Progress: env.Progress})
	if err != nil {
		return nil, err
	}
	m := readers.StagedManifest(files, rd.Schema())
	m.Dataset = &manifest.DatasetRef{Namespace: "aiflow", Name: env.Pipeline.ID + "." + env.Node.ID}
	return &plugin.Output{Manifest: m}, nil
}

// TailBuffer keeps the last lines a subprocess printed, for a message when its error file is
// empty. The python engine and internal/pyplugin's subprocesses both use it. The zero value is
// ready to use.
type TailBuffer struct {
	mu    sync.Mutex
	lines []string
}

// Add records one line; only the last 20 are kept.
func (t *TailBuffer) Add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

// Last returns the last non-blank line, trimmed, or "no message".
func (t *TailBuffer) Last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.lines) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(t.lines[i]); s != "" {
			return s
		}
	}
	return "no message"
}
