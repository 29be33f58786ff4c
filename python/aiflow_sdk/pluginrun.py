"""A Python plugin's reader or writer on the arrow and python engines:
``python -m aiflow_sdk.pluginrun REQUEST_JSON_PATH``.

The Go runner starts this when an arrow or python node reads a source whose kind a team
registered in Python (``register_arrow_source_reader``), and when a sink node's kind has a Python
writer (``register_sink_writer``). Data goes through the inherited file descriptor ``data_fd`` as
one Arrow IPC stream (a pipe: nothing is held whole in memory on either side); stdout and stderr
are the node's log. Request JSON::

    {"mode": "read",                       # or "write"
     "kind": "my_kind",
     "params": {...},                      # the source's or sink's params
     "context": {"run_id": ..., "node_id": ..., "pipeline_id": ..., "try_number": ..., "ds": ...},
     "plugin_modules": ["my_team_plugins"],
     "data_fd": 3,
     "error_file": "/path/error.json",
     "sys_path": ["/dirs/prepended/to/sys.path"]}

``read``: the reader ``fn(params, context)`` returns a ``pyarrow.Table``, ``RecordBatch``,
``RecordBatchReader``, an iterable of ``RecordBatch`` or a ``pandas.DataFrame``; its batches are
written to ``data_fd``. ``write``: ``data_fd`` is read as a ``pyarrow.RecordBatchReader`` and
passed to the writer ``fn(data, params, context)``.

Exit codes: those of :mod:`aiflow_sdk.runtime` (2 bad request or a module that cannot be
imported, 3 the plugin raised, 4 a reader returned no Arrow data, 5 the stream could not be
written) plus 6: the plugin raised ``aiflow_sdk.plugins.TemporaryError``, ``ConnectionError`` or
``TimeoutError`` (a service that is down: the runner exits 75 and the task is retried).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

from . import runtime as rt
from .runtime import EXIT_BAD_REQUEST, EXIT_BAD_RESULT, EXIT_OUTPUT, EXIT_USER_ERROR, RuntimeFailure

EXIT_UNAVAILABLE = 6


def _failure(exc: BaseException, context: str = "") -> RuntimeFailure:
    from .plugins import TemporaryError

    if isinstance(exc, (TemporaryError, ConnectionError, TimeoutError)):
        return rt._from_exception(EXIT_UNAVAILABLE, exc, context)
    return rt._from_exception(EXIT_USER_ERROR, exc, context)


def check_request(req: Dict[str, Any]) -> Dict[str, Any]:
    def bad(msg: str) -> RuntimeFailure:
        return RuntimeFailure(EXIT_BAD_REQUEST, "BadRequest", msg)

    if req.get("mode") not in ("read", "write"):
        raise bad(f"mode must be read or write, not {req.get('mode')!r}")
    if not isinstance(req.get("kind"), str) or not req["kind"]:
        raise bad("kind is required")
    if not isinstance(req.get("data_fd"), int):
        raise bad("data_fd (a file descriptor) is required")
    for key in ("params", "context"):
        req.setdefault(key, {})
        if not isinstance(req[key], dict):
            raise bad(f"{key} must be an object")
    for key in ("plugin_modules", "sys_path"):
        req.setdefault(key, [])
        if not isinstance(req[key], list) or not all(isinstance(v, str) for v in req[key]):
            raise bad(f"{key} must be a list of strings")
    return req


def _plugin(req: Dict[str, Any]) -> Any:
    from . import sparkrun
    from .plugins import ARROW_SOURCE_READERS, SINK_WRITERS

    sparkrun.import_plugins(req["plugin_modules"], req["sys_path"])
    registry, what = (ARROW_SOURCE_READERS, "Arrow reader for source") if req["mode"] == "read" \
        else (SINK_WRITERS, "writer for sink")
    fn = registry.get(("arrow", req["kind"]))
    if fn is None:
        known = sorted(k for (_, k) in registry)
        raise RuntimeFailure(EXIT_BAD_REQUEST, "BadRequest",
                             f"no {what} kind {req['kind']!r} registered by {', '.join(req['plugin_modules']) or 'no module'} "
                             f"(registered: {', '.join(known) or 'none'})")
    return fn


def _batches(result: Any) -> Tuple[Any, Iterator[Any]]:
    """(schema, batches) of what a reader returned: runtime.to_arrow's kinds plus an iterable of
    RecordBatch (a generator), whose first batch gives the schema."""
    import pyarrow as pa

    if result is not None and not isinstance(result, (pa.Table, pa.RecordBatch, pa.RecordBatchReader)) \
            and type(result).__module__.split(".")[0] != "pandas" and hasattr(result, "__iter__"):
        it = iter(result)
        try:
            first = next(it)
        except StopIteration:
            raise RuntimeFailure(EXIT_BAD_RESULT, "BadResult",
                                 "the reader yielded no batch: return an empty pyarrow.Table to say which columns") from None
        except Exception as e:  # noqa: BLE001 - the user's generator raised
            raise _failure(e) from None
        if not isinstance(first, pa.RecordBatch):
            raise RuntimeFailure(EXIT_BAD_RESULT, "BadResult",
                                 f"the reader yielded {type(first).__name__}, not pyarrow.RecordBatch")

        def rest() -> Iterator[Any]:
            yield first
            while True:
                try:
                    b = next(it)
                except StopIteration:
                    return
                except Exception as e:  # noqa: BLE001
                    raise rt._ReaderFailed(e) from e
                if not isinstance(b, pa.RecordBatch) or not b.schema.equals(first.schema):
                    raise rt._ReaderFailed(TypeError("every yielded batch must be a pyarrow.RecordBatch with the first batch's schema"))
                yield b
        return first.schema, rest()
    return rt.to_arrow(result)


def read(req: Dict[str, Any]) -> int:
    import pyarrow as pa

    fn = _plugin(req)
    try:
        result = fn(req["params"], req["context"])
    except BaseException as e:  # noqa: BLE001 - includes SystemExit inside the reader
        if isinstance(e, KeyboardInterrupt):
            raise
        raise _failure(e, f"Arrow reader of {req['kind']!r} raised") from None
    schema, batches = _batches(result)
    rows = 0
    try:
        with os.fdopen(req["data_fd"], "wb", buffering=rt.IO_BUFFER) as f:
            with pa.ipc.new_stream(f, schema) as w:
                for b in batches:
                    w.write_batch(b)
                    rows += b.num_rows
    except rt._ReaderFailed as e:
        raise _failure(e.__cause__ or e) from None
    except BrokenPipeError:
        # The consumer stopped reading (a limit, or its own failure, which it reports).
        return rt.EXIT_OK
    except (OSError, pa.ArrowException) as e:
        raise RuntimeFailure(EXIT_OUTPUT, "OutputError", f"cannot write the Arrow stream: {e}") from None
    print(f"aiflow pluginrun: the {req['kind']} reader gave {rows} rows")
    return rt.EXIT_OK


def write(req: Dict[str, Any]) -> int:
    import pyarrow as pa

    fn = _plugin(req)
    with os.fdopen(req["data_fd"], "rb", buffering=rt.IO_BUFFER) as f:
        try:
            data = pa.ipc.open_stream(f)
        except (OSError, pa.ArrowException) as e:
            raise RuntimeFailure(EXIT_BAD_REQUEST, "InputError", f"cannot read the sink's input: {e}") from None
        try:
            fn(data, req["params"], req["context"])
        except BaseException as e:  # noqa: BLE001
            if isinstance(e, KeyboardInterrupt):
                raise
            raise _failure(e, f"writer of sink {req['kind']!r} raised") from None
    print(f"aiflow pluginrun: the {req['kind']} writer returned")
    return rt.EXIT_OK


def _handle(req: Dict[str, Any]) -> int:
    rt.require_pyarrow()
    return read(req) if req["mode"] == "read" else write(req)


def main(argv: Optional[List[str]] = None) -> int:
    return rt.serve("pluginrun", argv, check_request, _handle)


if __name__ == "__main__":
    sys.exit(main())
