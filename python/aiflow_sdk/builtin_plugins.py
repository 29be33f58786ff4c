"""The built-in sources, sinks and engines, as IR builders.

Unlike the seed's builders these fill in no defaults and add no ``extra`` wrapper: the IR holds
exactly what the author wrote (None meaning "not given"), and the Go plugin fills the defaults
when it decodes ``params``. That is what makes a DSL pipeline hash the same as the YAML one,
where the author also writes only what differs from the defaults. The signatures name the
fields the Go plugins know, for editors and ``help()``; unknown extra keywords pass through and
the Go validator reports them with a suggestion. Defaults noted in the docstrings are the Go
plugins'.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .plugins import register_engine, register_sink, register_source

__all__: List[str] = []


def _given(kind: str, id: str, fields: Dict[str, Any], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"id": id, "kind": kind}
    for k, v in {**fields, **kwargs}.items():
        if v is not None:
            out[k] = v
    return out


def _given_resources(fields: Dict[str, Any], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in {**fields, **kwargs}.items() if v is not None}


# ---- sources ----

@register_source("onelake")
def onelake_source(id: str, table: str, format: Optional[str] = None,
                   partitions: Optional[Dict[str, Any]] = None, columns: Optional[List[str]] = None,
                   snapshot: Optional[str] = None, **kwargs: Any) -> Dict[str, Any]:
    """A lake table (namespace.table); format delta (default) or parquet."""
    return _given("onelake", id, dict(table=table, format=format, partitions=partitions,
                                      columns=columns, snapshot=snapshot), kwargs)


@register_source("onestream")
def onestream_source(id: str, topic: str, brokers: Optional[List[str]] = None,
                     group_id: Optional[str] = None, starting_offsets: Optional[str] = None,
                     value_format: Optional[str] = None, schema: Optional[Dict[str, str]] = None,
                     on_error: Optional[str] = None, dead_letter: Optional[str] = None,
                     max_records: Optional[int] = None, **kwargs: Any) -> Dict[str, Any]:
    """The company stream (Kafka): a bounded offset range pinned by the source node."""
    return _given("onestream", id, dict(topic=topic, brokers=brokers, group_id=group_id,
                                        starting_offsets=starting_offsets, value_format=value_format,
                                        schema=schema, on_error=on_error, dead_letter=dead_letter,
                                        max_records=max_records), kwargs)


@register_source("kafka")
def kafka_source(id: str, topic: str, brokers: Optional[List[str]] = None,
                 group_id: Optional[str] = None, starting_offsets: Optional[str] = None,
                 value_format: Optional[str] = None, schema: Optional[Dict[str, str]] = None,
                 on_error: Optional[str] = None, dead_letter: Optional[str] = None,
                 max_records: Optional[int] = None, **kwargs: Any) -> Dict[str, Any]:
    """A Kafka topic: a bounded offset range pinned by the source node."""
    return _given("kafka", id, dict(topic=topic, brokers=brokers, group_id=group_id,
                                    starting_offsets=starting_offsets, value_format=value_format,
                                    schema=schema, on_error=on_error, dead_letter=dead_letter,
                                    max_records=max_records), kwargs)


@register_source("files")
def files_source(id: str, path: str, format: Optional[str] = None,
                 partitions: Optional[Dict[str, Any]] = None, columns: Optional[List[str]] = None,
                 schema: Optional[Dict[str, str]] = None, options: Optional[Dict[str, str]] = None,
                 **kwargs: Any) -> Dict[str, Any]:
    """Parquet, CSV, NDJSON or Arrow IPC files on file:// or s3://."""
    return _given("files", id, dict(path=path, format=format, partitions=partitions,
                                    columns=columns, schema=schema, options=options), kwargs)


# ---- sinks ----

@register_sink("onelake")
def onelake_sink(id: str, table: str, mode: Optional[str] = None,
                 partition_by: Optional[List[str]] = None, format: Optional[str] = None,
                 **kwargs: Any) -> Dict[str, Any]:
    """A lake table written once per run; mode overwrite (default), append, error or ignore."""
    return _given("onelake", id, dict(table=table, mode=mode, partition_by=partition_by,
                                      format=format), kwargs)


@register_sink("feature_store")
def feature_store_sink(id: str, feature_group: str, mode: Optional[str] = None,
                       entity_keys: Optional[List[str]] = None, event_time: Optional[str] = None,
                       create: Optional[bool] = None, schema: Optional[str] = None,
                       dsn: Optional[Any] = None, **kwargs: Any) -> Dict[str, Any]:
    """A feature group in PostgreSQL, upserted by entity keys; dsn is a secret reference."""
    return _given("feature_store", id, dict(feature_group=feature_group, mode=mode,
                                            entity_keys=entity_keys, event_time=event_time,
                                            create=create, schema=schema, dsn=dsn), kwargs)


@register_sink("files")
def files_sink(id: str, path: str, format: Optional[str] = None, mode: Optional[str] = None,
               partition_by: Optional[List[str]] = None, compression: Optional[str] = None,
               **kwargs: Any) -> Dict[str, Any]:
    """Parquet, CSV or Arrow IPC files under a folder URI, published once per run."""
    return _given("files", id, dict(path=path, format=format, mode=mode,
                                    partition_by=partition_by, compression=compression), kwargs)


@register_sink("kafka")
def kafka_sink(id: str, topic: str, brokers: Optional[List[str]] = None,
               key_column: Optional[str] = None, value_format: Optional[str] = None,
               compression: Optional[str] = None, **kwargs: Any) -> Dict[str, Any]:
    """A Kafka topic, written transactionally."""
    return _given("kafka", id, dict(topic=topic, brokers=brokers, key_column=key_column,
                                    value_format=value_format, compression=compression), kwargs)


# ---- engines (resources) ----

@register_engine("spark")
def spark_engine(cluster: Optional[str] = None, driver_memory: Optional[str] = None,
                 executor_memory: Optional[str] = None, executor_cores: Optional[int] = None,
                 cpu: Optional[str] = None, memory: Optional[str] = None,
                 cpu_limit: Optional[str] = None, memory_limit: Optional[str] = None,
                 **kwargs: Any) -> Dict[str, Any]:
    """Spark resources; Go defaults: driver 2g, executor 4g, 2 cores, cluster from AIFLOW_SPARK_REMOTE.
    ``cpu``/``memory`` are the driver pod's requests, ``cpu_limit``/``memory_limit`` its limits
    (no CPU limit and the memory request when unset)."""
    return _given_resources(dict(cluster=cluster, driver_memory=driver_memory,
                                 executor_memory=executor_memory, executor_cores=executor_cores,
                                 cpu=cpu, memory=memory, cpu_limit=cpu_limit, memory_limit=memory_limit), kwargs)


@register_engine("arrow")
def arrow_engine(cpu: Optional[str] = None, memory: Optional[str] = None,
                 cpu_limit: Optional[str] = None, memory_limit: Optional[str] = None,
                 **kwargs: Any) -> Dict[str, Any]:
    """Pod resources of an in-process Go (arrow) transform: requests ``cpu`` ("500m") and
    ``memory`` ("4Gi"); limits ``cpu_limit`` (none when unset: no throttling) and
    ``memory_limit`` (the memory request when unset)."""
    return _given_resources(dict(cpu=cpu, memory=memory, cpu_limit=cpu_limit, memory_limit=memory_limit), kwargs)


@register_engine("python")
def python_engine(cpu: Optional[str] = None, memory: Optional[str] = None,
                  cpu_limit: Optional[str] = None, memory_limit: Optional[str] = None,
                  **kwargs: Any) -> Dict[str, Any]:
    """Pod resources of a python transform (requests ``cpu``, ``memory``; limits ``cpu_limit``,
    ``memory_limit``); ``resources.python()`` is ``{}``."""
    return _given_resources(dict(cpu=cpu, memory=memory, cpu_limit=cpu_limit, memory_limit=memory_limit), kwargs)
