package pyplugin

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
	"sync"
	"syscall"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/pyengine"
)

// Exit codes of aiflow_sdk.pluginrun.
const (
	exitBadRequest  = 2
	exitUserError   = 3
	exitBadResult   = 4
	exitOutput      = 5
	exitUnavailable = 6
)

// call is one `python -m aiflow_sdk.pluginrun` process exchanging an Arrow IPC stream with the
// runner through an inherited pipe (fd 3 in the child).
type call struct {
	what string // "reader of internal_kafka", for messages
	cmd  *exec.Cmd
	work string
	tail pyengine.TailBuffer
	logs sync.WaitGroup
	done chan struct{}
	err  error // the classified end, set once done is closed
}

// request is aiflow_sdk.pluginrun's request.
type request struct {
	Mode      string         `json:"mode"`
	Kind      string         `json:"kind"`
	Params    map[string]any `json:"params"`
	Context   map[string]any `json:"context"`
	Modules   []string       `json:"plugin_modules"`
	DataFD    int            `json:"data_fd"`
	ErrorFile string         `json:"error_file"`
	SysPath   []string       `json:"sys_path"`
}

// childFD is the descriptor of the data pipe in the child: ExtraFiles[0].
const childFD = 3

// start runs the request in a subprocess of python with data as its fd 3 (the runner's end of
// the pipe stays with the caller). env adds variables; log receives every line the plugin prints
// (stdout info, stderr warn). The process is killed when ctx ends.
func start(ctx context.Context, cfg *config.Config, what string, req request, data *os.File, env []string, log func(slog.Level, string)) (*call, error) {
	work, err := os.MkdirTemp("", "aiflow-pyplugin-")
	if err != nil {
		return nil, fmt.Errorf("%s: temp dir: %w", what, err)
	}
	c := &call{what: what, work: work, done: make(chan struct{})}
	sdk := filepath.Join(work, "sdk")
	if err := pyengine.ExtractSDK(sdk); err != nil {
		os.RemoveAll(work)
		return nil, err
	}
	req.DataFD = childFD
	req.ErrorFile = filepath.Join(work, "error.json")
	req.SysPath = pyengine.SysPath(cfg.PythonPath)
	b, err := json.Marshal(req)
	if err != nil {
		os.RemoveAll(work)
		return nil, fmt.Errorf("%s: request: %w", what, err)
	}
	reqPath := filepath.Join(work, "request.json")
	if err := os.WriteFile(reqPath, b, 0o600); err != nil {
		os.RemoveAll(work)
		return nil, err
	}
	cmd := exec.CommandContext(ctx, cfg.Python, "-m", "aiflow_sdk.pluginrun", reqPath)
	// The plugin's code inherits the pod's environment (PATH, HOME, its clients' own settings and
	// credentials); the runner's settings reach it through the request.
	cmd.Env = append(append(os.Environ(), env...), "PYTHONPATH="+pyengine.ChildPythonPath(sdk), "PYTHONUNBUFFERED=1")
	cmd.ExtraFiles = []*os.File{data}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(work)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fault.Configf("%s: interpreter %q not found (set AIFLOW_PYTHON)", what, cfg.Python)
		}
		return nil, fault.Wrap(fault.Temporary, err, "%s: start %s", what, cfg.Python)
	}
	c.cmd = cmd
	for i, r := range []io.Reader{stdout, stderr} {
		level := slog.LevelInfo
		if i == 1 {
			level = slog.LevelWarn
		}
		c.logs.Add(1)
		go func() {
			defer c.logs.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				c.tail.Add(sc.Text())
				log(level, sc.Text())
			}
		}()
	}
	go func() {
		c.logs.Wait()
		c.err = c.classify(ctx, cmd.Wait())
		os.RemoveAll(work)
		close(c.done)
	}()
	return c, nil
}

// wait returns the process's classified end.
func (c *call) wait() error {
	<-c.done
	return c.err
}

// kill ends the process (a consumer that stopped reading) and waits for it.
func (c *call) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
}

// classify maps the process's end to the runner's error classes, as the python engine does: the
// plugin's exception is data (65) with its last line, an unavailable service temporary (75), a
// bad request or a module that cannot be imported configuration (78).
func (c *call) classify(ctx context.Context, waitErr error) error {
	if waitErr == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fault.Wrap(fault.Temporary, ctx.Err(), "%s: interrupted", c.what)
	}
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) {
		return fault.Wrap(fault.Temporary, waitErr, "%s", c.what)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fault.Temporaryf("%s: the subprocess was killed by %s (out of memory?)", c.what, ws.Signal())
	}
	var pe struct {
		LastLine string `json:"last_line"`
	}
	if b, err := os.ReadFile(filepath.Join(c.work, "error.json")); err == nil {
		_ = json.Unmarshal(b, &pe)
	}
	msg := pe.LastLine
	if msg == "" {
		msg = c.tail.Last()
	}
	switch ee.ExitCode() {
	case exitUserError:
		return fault.Dataf("%s raised: %s", c.what, msg)
	case exitBadResult:
		return fault.Dataf("%s returned no Arrow data: %s", c.what, msg)
	case exitBadRequest:
		return fault.Configf("%s: %s", c.what, msg)
	case exitOutput:
		return fault.Dataf("%s: could not write its Arrow stream: %s", c.what, msg)
	case exitUnavailable:
		return fault.Temporaryf("%s: unavailable: %s", c.what, msg)
	}
	return fault.Dataf("%s: exit %d: %s", c.what, ee.ExitCode(), msg)
}
