"""Registries for source, sink and engine builders (seed §5.1).

A builder turns the author's keyword arguments into the dict that becomes a node's ``params``
(sources, sinks) or ``resources`` (engines). A team adds its own kinds with the decorators below
(seed §5.3); the Go runner needs a matching Go plugin to *run* them, the Python side only
describes them.

``register_spark_source_reader`` is kept for seed compatibility as a name-only registry: aiflow
runs Spark through the Go runner, so nothing here ever calls the reader, and this module must not
import pyspark (the DSL has no dependencies).
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, Tuple, TypeVar

__all__ = [
    "SourceBuilder", "SinkBuilder", "EngineConfigBuilder", "SparkSourceReader",
    "SOURCE_REGISTRY", "SINK_REGISTRY", "ENGINE_REGISTRY", "SPARK_SOURCE_READERS",
    "register_source", "register_sink", "register_engine", "register_spark_source_reader",
    "get_source_builder", "get_sink_builder", "get_engine_builder", "get_spark_source_reader",
    "UnknownPluginError",
]

SourceBuilder = Callable[..., Dict[str, Any]]
SinkBuilder = Callable[..., Dict[str, Any]]
EngineConfigBuilder = Callable[..., Dict[str, Any]]
# (spark, params, context) -> DataFrame; typed loosely so that pyspark is not needed.
SparkSourceReader = Callable[[Any, Dict[str, Any], Dict[str, Any]], Any]

SOURCE_REGISTRY: Dict[str, SourceBuilder] = {}
SINK_REGISTRY: Dict[str, SinkBuilder] = {}
ENGINE_REGISTRY: Dict[str, EngineConfigBuilder] = {}
SPARK_SOURCE_READERS: Dict[Tuple[str, str], SparkSourceReader] = {}

F = TypeVar("F", bound=Callable[..., Any])


class UnknownPluginError(KeyError):
    """No builder of that name; a KeyError as in the seed, with a readable message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _register(registry: Dict[Any, Any], key: Any, what: str) -> Callable[[F], F]:
    if not isinstance(key, str) or not key:
        raise ValueError(f"{what} name must be a non-empty string, not {key!r}")

    def decorator(fn: F) -> F:
        rkey = ("spark", key) if registry is SPARK_SOURCE_READERS else key
        if rkey in registry:
            raise ValueError(f"{what} '{key}' already registered")
        registry[rkey] = fn
        return fn

    return decorator


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
    """Records a Spark reader for a source kind (seed §5.1); name-only, see the module doc."""
    return _register(SPARK_SOURCE_READERS, kind, "Spark reader for source kind")


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
