"""Registries for source, sink and engine builders.

A builder turns the author's keyword arguments into the dict that becomes a node's ``params``
(sources, sinks) or ``resources`` (engines). A team adds its own kinds with the decorators below,
as the original design's plugin example (``examples/internal_kafka``) does. A kind registered here runs when the runner is told the module that registers it
(the pipeline's ``plugin_modules``, or ``AIFLOW_PLUGIN_MODULES``) and the module also registers
what reads or writes it:

* ``register_spark_source_reader(kind)``: ``fn(spark, params, context) -> DataFrame``, called by
  a spark node reading a source of that kind (in the node's Spark Connect session);
* ``register_arrow_source_reader(kind)``: ``fn(params, context) -> pyarrow.Table``,
  ``RecordBatchReader``, ``RecordBatch``, an iterable of ``RecordBatch`` or a
  ``pandas.DataFrame``, called by an arrow or python node reading a source of that kind;
* ``register_sink_writer(kind)``: ``fn(data, params, context)``, called by a sink node of that
  kind with ``data`` a ``pyarrow.RecordBatchReader`` streaming the sink's input.

``context`` holds the run (``run_id``, ``node_id``, ``pipeline_id``, ``try_number``, ``ds``,
``logical_date``). The modules run in a subprocess of the runner (``aiflow_sdk.sparkrun``,
``aiflow_sdk.pluginrun``); this module must not import pyspark or pyarrow (the DSL has no
dependencies).
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, Tuple, TypeVar

__all__ = [
    "SourceBuilder", "SinkBuilder", "EngineConfigBuilder", "SparkSourceReader",
    "ArrowSourceReader", "SinkWriter",
    "SOURCE_REGISTRY", "SINK_REGISTRY", "ENGINE_REGISTRY", "SPARK_SOURCE_READERS",
    "ARROW_SOURCE_READERS", "SINK_WRITERS",
    "register_source", "register_sink", "register_engine", "register_spark_source_reader",
    "register_arrow_source_reader", "register_sink_writer",
    "get_source_builder", "get_sink_builder", "get_engine_builder", "get_spark_source_reader",
    "get_arrow_source_reader", "get_sink_writer",
    "UnknownPluginError", "TemporaryError",
]

SourceBuilder = Callable[..., Dict[str, Any]]
SinkBuilder = Callable[..., Dict[str, Any]]
EngineConfigBuilder = Callable[..., Dict[str, Any]]
# (spark, params, context) -> DataFrame; typed loosely so that pyspark is not needed.
SparkSourceReader = Callable[[Any, Dict[str, Any], Dict[str, Any]], Any]

# (params, context) -> Arrow data; (data: pyarrow.RecordBatchReader, params, context) -> None.
ArrowSourceReader = Callable[[Dict[str, Any], Dict[str, Any]], Any]
SinkWriter = Callable[[Any, Dict[str, Any], Dict[str, Any]], Any]

SOURCE_REGISTRY: Dict[str, SourceBuilder] = {}
SINK_REGISTRY: Dict[str, SinkBuilder] = {}
ENGINE_REGISTRY: Dict[str, EngineConfigBuilder] = {}
SPARK_SOURCE_READERS: Dict[Tuple[str, str], SparkSourceReader] = {}
# Keyed like the seed's Spark readers: ("arrow", kind) serves the arrow and python engines.
ARROW_SOURCE_READERS: Dict[Tuple[str, str], ArrowSourceReader] = {}
SINK_WRITERS: Dict[Tuple[str, str], SinkWriter] = {}

F = TypeVar("F", bound=Callable[..., Any])


class UnknownPluginError(KeyError):
    """No builder of that name; a KeyError as in the seed, with a readable message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TemporaryError(Exception):
    """Raised by a reader or writer when its service is unavailable (down, throttling): the node
    exits 75 and the task is retried. ``ConnectionError`` and ``TimeoutError`` count as this too;
    any other exception is a data error (exit 65, not retried)."""


def _register(registry: Dict[Any, Any], key: Any, what: str) -> Callable[[F], F]:
    if not isinstance(key, str) or not key:
        raise ValueError(f"{what} name must be a non-empty string, not {key!r}")

    def decorator(fn: F) -> F:
        rkey = _ENGINE_KEYED[id(registry)] + (key,) if id(registry) in _ENGINE_KEYED else key
        if rkey in registry:
            raise ValueError(f"{what} '{key}' already registered")
        registry[rkey] = fn
        return fn

    return decorator


# The registries keyed by (engine, kind) rather than by name.
_ENGINE_KEYED = {id(SPARK_SOURCE_READERS): ("spark",), id(ARROW_SOURCE_READERS): ("arrow",),
                 id(SINK_WRITERS): ("arrow",)}


def register_source(name: str) -> Callable[[F], F]:
    """Registers a source builder: ``fn(id, **kwargs) -> {"id", "kind", ...params}``."""
    return _register(SOURCE_REGISTRY, name, "Source")


def register_sink(name: str) -> Callable[[F], F]:
    """Registers a sink builder: ``fn(id, **kwargs) -> {"id", "kind", ...params}``."""
    return _register(SINK_REGISTRY, name, "Sink")


def register_engine(name: str) -> Callable[[F], F]:
    """Registers an engine's resources builder: ``fn(**kwargs) -> {...resources}``."""
    return _register(ENGINE_REGISTRY, name, "Engine")


def register_spark_source_reader(kind: str) -> Callable[[F], F]:
    """Registers ``fn(spark, params, context) -> DataFrame``, the Spark reader of a source kind."""
    return _register(SPARK_SOURCE_READERS, kind, "Spark reader for source kind")


def register_arrow_source_reader(kind: str) -> Callable[[F], F]:
    """Registers ``fn(params, context) -> Arrow data``, the reader of a source kind on the arrow
    and python engines (see the module doc for what it may return)."""
    return _register(ARROW_SOURCE_READERS, kind, "Arrow reader for source kind")


def register_sink_writer(kind: str) -> Callable[[F], F]:
    """Registers ``fn(data, params, context)``, the writer of a sink kind: ``data`` is a
    ``pyarrow.RecordBatchReader`` of the sink's input. The runner records the commit once the
    writer returned; a retry after a failed attempt calls the writer again, so it must write
    under names fixed by ``context["run_id"]`` and ``context["node_id"]`` (or keep its own
    ledger keyed by them) to publish exactly once."""
    return _register(SINK_WRITERS, kind, "Sink writer for kind")


def _get(registry: Dict[str, Any], name: str, what: str) -> Any:
    try:
        return registry[name]
    except KeyError:
        known = sorted(registry)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownPluginError(
            f"unknown {what} {name!r}{hint}; registered: {', '.join(known) or 'none'}") from None


def get_source_builder(name: str) -> SourceBuilder:
    return _get(SOURCE_REGISTRY, name, "source")


def get_sink_builder(name: str) -> SinkBuilder:
    return _get(SINK_REGISTRY, name, "sink")


def get_engine_builder(name: str) -> EngineConfigBuilder:
    return _get(ENGINE_REGISTRY, name, "engine")


def get_spark_source_reader(kind: str) -> SparkSourceReader:
    try:
        return SPARK_SOURCE_READERS[("spark", kind)]
    except KeyError:
        raise UnknownPluginError(f"no Spark reader registered for source kind {kind!r}") from None


def get_arrow_source_reader(kind: str) -> ArrowSourceReader:
    try:
        return ARROW_SOURCE_READERS[("arrow", kind)]
    except KeyError:
        raise UnknownPluginError(f"no Arrow reader registered for source kind {kind!r}") from None


def get_sink_writer(kind: str) -> SinkWriter:
    try:
        return SINK_WRITERS[("arrow", kind)]
    except KeyError:
        raise UnknownPluginError(f"no writer registered for sink kind {kind!r}") from None
