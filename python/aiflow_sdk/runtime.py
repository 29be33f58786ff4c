"""The python engine's subprocess: ``python -m aiflow_sdk.runtime REQUEST_JSON_PATH``.

The Go runner starts this for a node with ``engine="python"`` (interpreter from ``AIFLOW_PYTHON``)
and exchanges data as Arrow IPC *streams*, which work through pipes and FIFOs, so neither side
ever holds one giant serialized buffer. The request file is JSON::

    {"fn": "etl_jobs.build_user_features:main",
     "params": {...},
     "inputs": {"enrich_orders": "/path/to/input.arrows"},   # file or FIFO, one per input node
     "output": "/path/to/output.arrows",                      # file or FIFO
     "error_file": "/path/to/error.json",
     "sys_path": ["/dirs/prepended/to/sys.path"]}

Order of work: import ``fn`` (fail fast, before any input is consumed), read each input stream
batch by batch into a ``pyarrow.Table`` (in the request's key order; a FIFO writer must feed them
concurrently or in that order), call ``fn(inputs, params)``, and only after it returned open
``output`` and write the result batch by batch (at most 65536 rows a batch). On an error before
that, ``output`` is never opened; on any non-zero exit the output is incomplete and must be
discarded.

Exit codes (the Go side maps them to the runner's sysexits):

* 0 — success;
* 2 — bad request, or ``fn`` cannot be imported (module not found, no such attribute);
* 3 — user code raised (in ``fn``, while importing its module, or while a returned
  RecordBatchReader was being read); the traceback goes to stderr;
* 4 — ``fn`` returned something that is not a table;
* 5 — the output could not be written (broken pipe, disk full, unsupported types).

For every non-zero exit ``error_file`` (when given) receives
``{"type", "message", "last_line", "traceback"}``; ``last_line`` is the one line fit for a
termination message (``ValueError: boom``).

``fn`` may return a ``pyarrow.Table``, ``pyarrow.RecordBatch``, ``pyarrow.RecordBatchReader`` or
``pandas.DataFrame`` (converted with ``pa.Table.from_pandas(df, preserve_index=False)``).
pyarrow and pandas are imported here only, never by the DSL.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

EXIT_OK = 0
EXIT_BAD_REQUEST = 2
EXIT_USER_ERROR = 3
EXIT_BAD_RESULT = 4
EXIT_OUTPUT = 5

MAX_CHUNK_ROWS = 64 * 1024
IO_BUFFER = 1 << 20


class RuntimeFailure(Exception):
    """A failure with its exit code and the record for error_file."""

    def __init__(self, code: int, type_: str, message: str, tb: str = "", line: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.type = type_
        self.message = message
        self.traceback = tb
        self.line = line

    @property
    def last_line(self) -> str:
        if self.line:
            return self.line
        if self.traceback:
            lines = [ln for ln in self.traceback.rstrip("\n").splitlines() if ln.strip()]
            if lines:
                return lines[-1].strip()
        first = self.message.strip().splitlines()
        return f"{self.type}: {first[0] if first else ''}".rstrip(": ")


def _user_traceback(exc: BaseException) -> str:
    """The traceback without this module's leading frames: the user's code is what matters."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _exception_line(exc: BaseException) -> str:
    """``Type: first line of the message``: what a termination message can hold. The traceback's
    last line is not it when the message spans lines (a Spark error carries the server's stack)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _from_exception(code: int, exc: BaseException, context: str = "") -> RuntimeFailure:
    tb = _user_traceback(exc)
    msg = str(exc) if not context else f"{context}: {exc}"
    return RuntimeFailure(code, type(exc).__name__, msg, tb, _exception_line(exc))


# ---- the run ----

def current_context() -> Dict[str, Any]:
    """The run a node's subprocess works for, as the runner sets it in the environment.

    Keys: ``pipeline_id``, ``node_id``, ``run_id``, ``try_number`` and, when the run has a logical
    date, ``ds`` (``YYYY-MM-DD``) and ``logical_date`` (RFC 3339). Outside a node (a unit test),
    the keys whose variables are unset are missing.
    """
    ctx: Dict[str, Any] = {}
    for key, var in (("pipeline_id", "AIFLOW_PIPELINE_ID"), ("node_id", "AIFLOW_NODE_ID"),
                     ("run_id", "AIFLOW_RUN_ID"), ("ds", "AIFLOW_DS"), ("logical_date", "AIFLOW_LOGICAL_DATE")):
        if os.environ.get(var):
            ctx[key] = os.environ[var]
    if os.environ.get("AIFLOW_TRY", "").isdigit():
        ctx["try_number"] = int(os.environ["AIFLOW_TRY"])
    return ctx


# ---- request ----

def read_request(path: str) -> Dict[str, Any]:
    """Reads the request JSON (checked by check_request once error_file is known)."""
    try:
        with open(path, "rb") as f:
            req = json.load(f)
    except (OSError, ValueError) as e:
        raise RuntimeFailure(EXIT_BAD_REQUEST, "BadRequest", f"cannot read request {path}: {e}") from None
    if not isinstance(req, dict):
        raise RuntimeFailure(EXIT_BAD_REQUEST, "BadRequest", "the request must be a JSON object")
    return req


def check_request(req: Dict[str, Any]) -> Dict[str, Any]:
    """Checks the request's fields and fills in the optional ones."""

    def bad(msg: str) -> RuntimeFailure:
        return RuntimeFailure(EXIT_BAD_REQUEST, "BadRequest", msg)

    if not isinstance(req.get("fn"), str) or ":" not in req["fn"]:
        raise bad(f"fn must be \"module:function\", not {req.get('fn')!r}")
    if not isinstance(req.get("output"), str) or not req["output"]:
        raise bad("output (a path) is required")
    req.setdefault("params", {})
    if not isinstance(req["params"], dict):
        raise bad("params must be an object")
    req.setdefault("inputs", {})
    if not isinstance(req["inputs"], dict) or not all(isinstance(v, str) for v in req["inputs"].values()):
        raise bad("inputs must map input node ids to paths")
    req.setdefault("sys_path", [])
    if not isinstance(req["sys_path"], list) or not all(isinstance(p, str) for p in req["sys_path"]):
        raise bad("sys_path must be a list of folders")
    if req.get("error_file") is not None and not isinstance(req["error_file"], str):
        raise bad("error_file must be a path")
    return req


def write_error_file(path: Optional[str], failure: RuntimeFailure) -> None:
    """Best effort: the exit code and stderr still tell the story if this fails."""
    if not path:
        return
    record = {"type": failure.type, "message": failure.message,
              "last_line": failure.last_line, "traceback": failure.traceback}
    try:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError as e:
        print(f"aiflow runtime: cannot write error file {path}: {e}", file=sys.stderr)


# ---- fn ----

def import_fn(spec: str, sys_path: List[str]) -> Callable[..., Any]:
    """Imports ``module:function`` (the function part may be dotted: ``mod:Class.method``)."""
    for folder in reversed(sys_path):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise RuntimeFailure(EXIT_BAD_REQUEST, "BadRequest", f"fn {spec!r} is not module:function")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        # A module that is missing altogether is a request problem; so is one whose own imports
        # are missing (a dependency not installed in this interpreter).
        hint = f" (sys.path: {', '.join(sys.path[:len(sys_path) + 1])})" if isinstance(e, ModuleNotFoundError) else ""
        raise RuntimeFailure(EXIT_BAD_REQUEST, type(e).__name__,
                             f"cannot import {module_name!r} for fn {spec!r}: {e}{hint}",
                             "".join(traceback.format_exception(type(e), e, e.__traceback__))) from None
    except BaseException as e:  # the user's module raised while being imported
        raise _from_exception(EXIT_USER_ERROR, e, f"importing {module_name!r} raised") from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise RuntimeFailure(EXIT_BAD_REQUEST, "AttributeError",
                                 f"fn {spec!r}: module {module_name!r} has no attribute {attr_path!r}") from None
    if not callable(obj):
        raise RuntimeFailure(EXIT_BAD_REQUEST, "TypeError", f"fn {spec!r} is a {type(obj).__name__}, not callable")
    return obj


# ---- data ----

def read_inputs(inputs: Dict[str, str]) -> Dict[str, Any]:
    """Each input IPC stream into a Table, batch by batch (no single giant buffer)."""
    import pyarrow as pa

    tables: Dict[str, Any] = {}
    for node_id, path in inputs.items():
        try:
            # Python's file object, not pa.OSFile: OSFile seeks, which a FIFO cannot.
            with open(path, "rb", buffering=IO_BUFFER) as f:
                tables[node_id] = pa.ipc.open_stream(f).read_all()
        except (OSError, pa.ArrowException) as e:
            raise RuntimeFailure(EXIT_BAD_REQUEST, "InputError",
                                 f"cannot read input {node_id!r} from {path}: {e}") from None
    return tables


def to_arrow(result: Any) -> Tuple[Any, Any]:
    """(schema, iterator of RecordBatches) for what fn returned, or exit 4."""
    import pyarrow as pa

    if isinstance(result, pa.Table):
        return result.schema, iter(result.to_batches(max_chunksize=MAX_CHUNK_ROWS))
    if isinstance(result, pa.RecordBatch):
        return result.schema, iter(pa.Table.from_batches([result]).to_batches(max_chunksize=MAX_CHUNK_ROWS))
    if isinstance(result, pa.RecordBatchReader):
        return result.schema, _rechunk(result)
    if type(result).__module__.split(".")[0] == "pandas" and type(result).__name__ == "DataFrame":
        try:
            table = pa.Table.from_pandas(result, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise _from_exception(EXIT_BAD_RESULT, e, "the returned pandas.DataFrame cannot be converted to Arrow") from None
        return table.schema, iter(table.to_batches(max_chunksize=MAX_CHUNK_ROWS))
    what = "None (did fn forget to return its table?)" if result is None else \
        f"{type(result).__module__}.{type(result).__qualname__}"
    raise RuntimeFailure(EXIT_BAD_RESULT, "BadResult",
                         f"fn returned {what}; expected a pyarrow.Table, pyarrow.RecordBatch, "
                         "pyarrow.RecordBatchReader or pandas.DataFrame")


class _ReaderFailed(Exception):
    """Wraps an exception raised by the user's RecordBatchReader while it was being consumed."""


def _rechunk(reader: Any) -> Any:
    """The reader's batches, none over MAX_CHUNK_ROWS; the reader's own errors are wrapped."""
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except Exception as e:
            raise _ReaderFailed(e) from e
        if batch.num_rows <= MAX_CHUNK_ROWS:
            yield batch
            continue
        for offset in range(0, batch.num_rows, MAX_CHUNK_ROWS):
            yield batch.slice(offset, MAX_CHUNK_ROWS)


def _discard(path: str) -> None:
    """Removes a partly written regular output file (a FIFO is left to its reader)."""
    try:
        if os.path.isfile(path):
            os.unlink(path)
    except OSError:
        pass


def write_output(path: str, schema: Any, batches: Any) -> int:
    """Writes the batches as an IPC stream; returns the number of rows."""
    import pyarrow as pa

    rows = 0
    try:
        with open(path, "wb", buffering=IO_BUFFER) as f:
            with pa.ipc.new_stream(f, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
    except _ReaderFailed as e:
        _discard(path)
        cause = e.__cause__ or e
        raise _from_exception(EXIT_USER_ERROR, cause) from None
    except (OSError, pa.ArrowException) as e:
        _discard(path)
        raise RuntimeFailure(EXIT_OUTPUT, "OutputError", f"cannot write the output to {path}: {e}",
                             "".join(traceback.format_exception(type(e), e, e.__traceback__))) from None
    return rows


# ---- main ----

def run(req: Dict[str, Any]) -> int:
    fn = import_fn(req["fn"], req["sys_path"])
    inputs = read_inputs(req["inputs"])
    try:
        result = fn(inputs, req["params"])
    except BaseException as e:  # includes SystemExit from a sys.exit() inside fn
        if isinstance(e, KeyboardInterrupt):
            raise
        raise _from_exception(EXIT_USER_ERROR, e) from None
    schema, batches = to_arrow(result)
    rows = write_output(req["output"], schema, batches)
    print(f"aiflow runtime: {req['fn']} wrote {rows} rows", file=sys.stderr)
    return EXIT_OK


def require_pyarrow(hint: str = "set AIFLOW_PYTHON") -> None:
    """Fails with a bad-request class when pyarrow is missing from this interpreter."""
    try:
        import pyarrow  # noqa: F401
    except ImportError as e:
        raise RuntimeFailure(EXIT_BAD_REQUEST, "ImportError",
                             f"pyarrow is not installed in {sys.executable} ({hint}): {e}") from None


def serve(prog: str, argv: Optional[List[str]], check: Callable[[Dict[str, Any]], Any],
          handle: Callable[[Dict[str, Any]], int]) -> int:
    """The protocol every `python -m aiflow_sdk.<prog> REQUEST_JSON_PATH` entry point shares with the
    Go runner: read and check the request, run it, and on a RuntimeFailure print the user's traceback
    and one `aiflow <prog>: message` line to stderr, write the error file the runner classifies from,
    and return the failure's exit class."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m aiflow_sdk.{prog} REQUEST_JSON_PATH", file=sys.stderr)
        return EXIT_BAD_REQUEST
    error_file: Optional[str] = None
    try:
        req = read_request(args[0])
        if isinstance(req.get("error_file"), str):
            error_file = req["error_file"]
        check(req)
        return handle(req)
    except RuntimeFailure as failure:
        if failure.traceback:
            sys.stderr.write(failure.traceback)
            if not failure.traceback.endswith("\n"):
                sys.stderr.write("\n")
        print(f"aiflow {prog}: {failure.message}", file=sys.stderr)
        write_error_file(error_file, failure)
        return failure.code


def _run_with_pyarrow(req: Dict[str, Any]) -> int:
    require_pyarrow("pip install 'aiflow-sdk[runtime]' or set AIFLOW_PYTHON")
    return run(req)


def main(argv: Optional[List[str]] = None) -> int:
    return serve("runtime", argv, check_request, _run_with_pyarrow)


if __name__ == "__main__":
    sys.exit(main())
