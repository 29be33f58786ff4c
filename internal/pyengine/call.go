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
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/plugin"
)

// exitUnavailable is aiflow_sdk.sparkrun's exit when the Spark Connect server cannot be reached.
const exitUnavailable = 6

// Call runs `python -m aiflow_sdk.<module> REQUEST` to completion with the embedded aiflow_sdk
// on its path (the same mechanics as the python engine, without data streams): req gets
// error_file and sys_path (the working directory and AIFLOW_PYTHONPATH) added, the subprocess's
// output goes to the node's log, and its exit is classified like the python engine's (a user
// exception: fault.Data with the exception's last line; a bad request: fault.Config; exit 6, the
// Spark Connect server gone: fault.Temporary). what names the step in messages.
func Call(ctx context.Context, env *plugin.Env, module, what string, req map[string]any, timeout time.Duration) error {
	work, err := os.MkdirTemp("", "aiflow-python-")
	if err != nil {
		return fmt.Errorf("%s: temp dir: %w", what, err)
	}
	defer os.RemoveAll(work)
	sdkDir := filepath.Join(work, "sdk")
	if err := extractSDK(sdkDir); err != nil {
		return err
	}
	errorFile := filepath.Join(work, "error.json")
	req["error_file"] = errorFile
	req["sys_path"] = SysPath(env.Config.PythonPath)
	reqPath := filepath.Join(work, "request.json")
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: request: %w", what, err)
	}
	if err := os.WriteFile(reqPath, b, 0o600); err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = time.Hour
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	interp := env.Config.Python
	cmd := exec.CommandContext(pctx, interp, "-m", "aiflow_sdk."+module, reqPath)
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
			return fault.Configf("%s: interpreter %q not found (set AIFLOW_PYTHON)", what, interp)
		}
		return fault.Wrap(fault.Temporary, err, "%s: start %s", what, interp)
	}
	var tail TailBuffer
	var logs sync.WaitGroup
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
	logs.Wait()
	waitErr := cmd.Wait()
	if waitErr != nil {
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) && ee.ExitCode() == exitUnavailable && ctx.Err() == nil {
			msg := lastLine(errorFile, &tail)
			return fault.Temporaryf("%s: Spark Connect unreachable: %s", what, msg)
		}
	}
	return classifyExit(ctx, pctx, waitErr, errorFile, timeout, &tail)
}

// relayLines copies the subprocess's lines into the node's log (and the tail kept for messages).
func relayLines(ctx context.Context, env *plugin.Env, r io.Reader, level slog.Level, tail *TailBuffer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, recordPrefix) && relayRecord(ctx, env, line) {
			continue
		}
		tail.Add(line)
		env.Log.Log(ctx, level, "python: "+line)
	}
}

// RelayRecord puts a line a node's Python subprocess printed into the node's log stream or
// metrics when it is an aiflow_sdk.observability record, and reports whether it was one (other
// lines are the caller's to log).
func RelayRecord(ctx context.Context, env *plugin.Env, line string) bool {
	return strings.HasPrefix(line, recordPrefix) && relayRecord(ctx, env, line)
}

// recordPrefix starts the lines aiflow_sdk.observability prints for the runner: a structured
// log record or a metric of the node's own code.
const recordPrefix = `{"aiflow_record":`

// pyRecord is one such line.
type pyRecord struct {
	Record string            `json:"aiflow_record"` // "log" or "metric"
	Level  string            `json:"level"`
	Msg    string            `json:"msg"`
	Fields map[string]any    `json:"fields"`
	Kind   string            `json:"kind"` // counter, observe
	Name   string            `json:"name"`
	Value  float64           `json:"value"`
	Labels map[string]string `json:"labels"`
}

// relayRecord puts a structured record into the node's log stream (with the node's own fields)
// and a metric into the node's metrics; false when the line is not a well-formed record (it is
// then logged as printed).
func relayRecord(ctx context.Context, env *plugin.Env, line string) bool {
	var r pyRecord
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return false
	}
	switch r.Record {
	case "log":
		var level slog.Level
		if err := level.UnmarshalText([]byte(strings.ToUpper(r.Level))); err != nil {
			level = slog.LevelInfo
		}
		attrs := make([]any, 0, 2*len(r.Fields)+2)
		for _, k := range slices.Sorted(maps.Keys(r.Fields)) {
			attrs = append(attrs, "user."+k, r.Fields[k])
		}
		env.Log.Log(ctx, level, r.Msg, append(attrs, "source", "python")...)
		return true
	case "metric":
		env.Log.Debug("python metric", "kind", r.Kind, "name", r.Name, "value", r.Value, "labels", r.Labels)
		if env.UserMetric != nil {
			if err := env.UserMetric(r.Kind, r.Name, r.Value, r.Labels); err != nil {
				env.Log.Warn("python metric refused", "error", err.Error())
			}
		}
		return true
	}
	return false
}

func lastLine(errorFile string, tail *TailBuffer) string {
	var pe pyError
	if b, err := os.ReadFile(errorFile); err == nil {
		_ = json.Unmarshal(b, &pe)
	}
	if pe.LastLine != "" {
		return pe.LastLine
	}
	return tail.Last()
}

// SysPath is what the subprocess puts first on sys.path: AIFLOW_PYTHONPATH's folders (extra,
// config.Config.PythonPath), then the working directory (where a local run keeps its etl_jobs/).
func SysPath(extra []string) []string {
	cwd, _ := os.Getwd()
	return append(append([]string{}, extra...), cwd)
}

// SubprocessEnv is the environment added for a Python subprocess of a node: the embedded SDK
// first on PYTHONPATH, unbuffered output, and the run's identity (AIFLOW_PIPELINE_ID,
// AIFLOW_NODE_ID, AIFLOW_RUN_ID, AIFLOW_TRY, AIFLOW_DS, AIFLOW_LOGICAL_DATE), which
// aiflow_sdk.runtime.current_context() reads.
func SubprocessEnv(env *plugin.Env, sdkDir string) []string {
	out := []string{"PYTHONPATH=" + ChildPythonPath(sdkDir), "PYTHONUNBUFFERED=1",
		"AIFLOW_PIPELINE_ID=" + env.Pipeline.ID, "AIFLOW_NODE_ID=" + env.Node.ID,
		"AIFLOW_RUN_ID=" + env.RunID, fmt.Sprintf("AIFLOW_TRY=%d", env.Try)}
	if !env.Vars.LogicalDate.IsZero() {
		out = append(out, "AIFLOW_DS="+env.Vars.LogicalDate.Format("2006-01-02"),
			"AIFLOW_LOGICAL_DATE="+env.Vars.LogicalDate.Format(time.RFC3339))
	}
	return out
}
