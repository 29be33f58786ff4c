"""The PySpark side of the spark engine: ``python -m aiflow_sdk.sparkrun REQUEST_JSON_PATH``.

The Go runner starts this for a spark transform whose ``entrypoint`` names a Python function
(``etl_jobs.enrich_orders:main``), and for any spark node one of whose inputs is a source kind
read by a Python reader (``register_spark_source_reader``). The runner has already opened a Spark
Connect session and registered every input it could read as a temp view named by its node id;
this process joins *the same* server-side session (the request's ``remote`` carries its
``session_id`` and ``user_id``), so those views are visible here and what this process registers
is visible to the runner. No data goes through this process: DataFrames are plans on the server.

Request JSON::

    {"entrypoint": "etl_jobs.enrich_orders:main",   # or null: only run the readers
     "remote": "sc://host:15002/;session_id=...;user_id=...",
     "params": {...},                               # the node's rendered params
     "context": {"ds": "2024-01-02", "run_id": "...", "pipeline_id": "...", "node_id": "..."},
     "views": ["orders_onelake"],                   # inputs already registered by the runner
     "readers": {"events": {"kind": "internal_kafka", "params": {...}}},
     "plugin_modules": ["my_team_plugins"],         # imported first: they register readers
     "output_view": "aiflow_out_...",               # where the returned DataFrame is registered
     "error_file": "/path/error.json",
     "sys_path": ["/dirs/prepended/to/sys.path"]}

Order of work: import the plugin modules and the entrypoint (fail fast), connect, build each
reader's DataFrame and register it as a temp view named by its input node id, then call
``fn(spark=spark, inputs=inputs, params=params)`` (the seed's signature) with ``inputs`` mapping
every input node id to its DataFrame, and register the returned DataFrame as ``output_view``.
The runner then writes it with Spark into staging and commits it; nothing is collected here.

Exit codes: those of :mod:`aiflow_sdk.runtime` (2 bad request or import failure, 3 user code
raised, 4 fn returned no DataFrame) plus 6: the Spark Connect server could not be reached or went
away (temporary: the runner exits 75 and the task is retried).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional

from . import runtime as rt
from .runtime import EXIT_BAD_REQUEST, EXIT_BAD_RESULT, EXIT_USER_ERROR, RuntimeFailure

EXIT_UNAVAILABLE = 6

# gRPC status codes that mean "the server is not there (now)": retrying later may work.
_TEMPORARY_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED")


def _is_unreachable(exc: BaseException) -> bool:
    """True when exc (or what caused it) says the Spark Connect server cannot be reached."""
    seen = set()
    e: Optional[BaseException] = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        name = type(e).__name__
        if name == "RetriesExceeded":
            return True
        code = getattr(e, "code", None)
        if callable(code):
            try:
                c = code()
            except Exception:  # noqa: BLE001 - a foreign object's code() is best effort
                c = None
            if getattr(c, "name", None) in _TEMPORARY_CODES:
                return True
        if name == "SparkConnectGrpcException":
            text = str(e)
            if any(f"StatusCode.{c}" in text for c in _TEMPORARY_CODES) or "failed to connect" in text.lower():
                return True
        e = e.__cause__ or e.__context__
    return False


def _failure(exc: BaseException, context: str = "") -> RuntimeFailure:
    if _is_unreachable(exc):
        return rt._from_exception(EXIT_UNAVAILABLE, exc, context or "Spark Connect unreachable")
    return rt._from_exception(EXIT_USER_ERROR, exc, context)


def check_request(req: Dict[str, Any]) -> Dict[str, Any]:
    def bad(msg: str) -> RuntimeFailure:
        return RuntimeFailure(EXIT_BAD_REQUEST, "BadRequest", msg)

    ep = req.get("entrypoint")
    if ep is not None and (not isinstance(ep, str) or ":" not in ep):
        raise bad(f"entrypoint must be \"module:function\", not {ep!r}")
    if not isinstance(req.get("remote"), str) or not req["remote"].startswith("sc://"):
        raise bad("remote (an sc:// URL) is required")
    for key, typ in (("params", dict), ("context", dict), ("readers", dict)):
        req.setdefault(key, {})
        if not isinstance(req[key], typ):
            raise bad(f"{key} must be an object")
    for key in ("views", "plugin_modules", "sys_path"):
        req.setdefault(key, [])
        if not isinstance(req[key], list) or not all(isinstance(v, str) for v in req[key]):
            raise bad(f"{key} must be a list of strings")
    if ep is not None and not isinstance(req.get("output_view"), str):
        raise bad("output_view is required with an entrypoint")
    return req


def import_plugins(modules: List[str], sys_path: List[str]) -> None:
    """Imports the plugin modules; their decorators fill aiflow_sdk.plugins' registries."""
    import importlib

    for folder in reversed(sys_path):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise RuntimeFailure(EXIT_BAD_REQUEST, type(e).__name__,
                                 f"cannot import plugin module {name!r}: {e}") from None
        except BaseException as e:  # noqa: BLE001 - the plugin module raised while imported
            raise rt._from_exception(EXIT_USER_ERROR, e, f"importing plugin module {name!r} raised") from None


def connect(remote: str) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise RuntimeFailure(EXIT_BAD_REQUEST, "ImportError",
                             f"pyspark is not installed in {sys.executable} (pip install pyspark-client, "
                             f"or set AIFLOW_PYTHON to an interpreter that has it): {e}") from None
    try:
        spark = SparkSession.builder.remote(remote).getOrCreate()
    except Exception as e:  # noqa: BLE001
        raise _failure(e, "connect to Spark Connect") from None
    # The session belongs to the runner, which releases it at the end of the node: a user's
    # spark.stop() must not take the inputs' views away from under it.
    if hasattr(spark, "release_session_on_close"):
        spark.release_session_on_close = False
    return spark


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def run(req: Dict[str, Any]) -> int:
    import_plugins(req["plugin_modules"], req["sys_path"])
    fn = rt.import_fn(req["entrypoint"], req["sys_path"]) if req.get("entrypoint") else None
    readers = {}
    if req["readers"]:
        from .plugins import SPARK_SOURCE_READERS
        for node_id, spec in req["readers"].items():
            kind = spec.get("kind") if isinstance(spec, dict) else None
            reader = SPARK_SOURCE_READERS.get(("spark", kind))
            if reader is None:
                known = sorted(k for (_, k) in SPARK_SOURCE_READERS)
                raise RuntimeFailure(EXIT_BAD_REQUEST, "BadRequest",
                                     f"input {node_id!r}: no Spark reader registered for source kind {kind!r} "
                                     f"(registered: {', '.join(known) or 'none'}; name the module that registers "
                                     "it in AIFLOW_PLUGIN_MODULES)")
            readers[node_id] = (reader, spec.get("params") or {})

    spark = connect(req["remote"])
    inputs: Dict[str, Any] = {}
    for node_id, (reader, params) in readers.items():
        try:
            df = reader(spark, params, req["context"])
        except BaseException as e:  # noqa: BLE001
            raise _failure(e, f"spark reader for input {node_id!r} raised") from None
        if df is None or not hasattr(df, "createOrReplaceTempView"):
            raise RuntimeFailure(EXIT_BAD_RESULT, "BadResult",
                                 f"spark reader for input {node_id!r} returned {type(df).__name__}, not a DataFrame")
        try:
            df.createOrReplaceTempView(node_id)
        except BaseException as e:  # noqa: BLE001
            raise _failure(e, f"register input {node_id!r}") from None
        inputs[node_id] = df
    if fn is None:
        print(f"aiflow sparkrun: registered {len(readers)} reader input(s)")
        return rt.EXIT_OK

    for node_id in req["views"]:
        try:
            inputs[node_id] = spark.table(_quote(node_id))
        except BaseException as e:  # noqa: BLE001
            raise _failure(e, f"input {node_id!r}") from None
    try:
        result = fn(spark=spark, inputs=inputs, params=req["params"])
    except BaseException as e:  # includes SystemExit from a sys.exit() inside fn
        if isinstance(e, KeyboardInterrupt):
            raise
        raise _failure(e) from None
    if result is None or not hasattr(result, "createOrReplaceTempView"):
        what = "None (did it forget to return its DataFrame?)" if result is None else \
            f"{type(result).__module__}.{type(result).__qualname__}"
        raise RuntimeFailure(EXIT_BAD_RESULT, "BadResult",
                             f"{req['entrypoint']} returned {what}; expected a pyspark.sql.DataFrame")
    try:
        # Analysis errors of the returned plan (a missing column) surface here, as the user's.
        result.createOrReplaceTempView(req["output_view"])
    except BaseException as e:  # noqa: BLE001
        raise _failure(e) from None
    print(f"aiflow sparkrun: {req['entrypoint']} returned its DataFrame")
    return rt.EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    return rt.serve("sparkrun", argv, check_request, run)


if __name__ == "__main__":
    sys.exit(main())
