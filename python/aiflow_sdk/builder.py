"""PipelineBuilder and DatasetHandle: collect the graph while a pipeline function runs.

Every mistake found here is raised as a :class:`PipelineDefinitionError` located at the user's
call (``file:line``), because that is where the author has to fix it: a duplicate node id,
reading a dataset that is not defined in this pipeline, a sink written with no input.

The node ``params`` are exactly what the author wrote: the builders' dicts minus ``id`` and minus
None values. A seed-style team builder that returns ``{"extra": kwargs}`` or resources with an
``"engine"`` key still works: ``extra`` is flattened into the params and ``engine`` is checked
against the transform's engine and dropped, so no seed-style wrapper reaches the IR.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

from .errors import PipelineDefinitionError, SourceLocation, caller_location
from .ir import NodeIR, PipelineIR

__all__ = ["DatasetHandle", "PipelineBuilder", "EngineResources"]


class EngineResources(dict):
    """The resources dict of ``resources.<engine>(...)``; remembers its engine so that a
    transform on another engine is caught. Serializes as a plain dict."""

    def __init__(self, engine: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.engine = engine


class DatasetHandle:
    """A logical dataset: the output of one node, for chaining ``transform`` and ``write``."""

    def __init__(self, pipeline_builder: "PipelineBuilder", node_id: str) -> None:
        self._builder = pipeline_builder
        self._node_id = node_id

    @property
    def node_id(self) -> str:
        return self._node_id

    def __repr__(self) -> str:
        return f"<dataset {self._node_id!r} of pipeline {self._builder.ir.id!r}>"

    def transform(self,
                  id: str,
                  engine: str,
                  entrypoint: Optional[str] = None,
                  fn: Optional[str] = None,
                  resources: Optional[Mapping[str, Any]] = None,
                  output_schema: Optional[Mapping[str, Any]] = None,
                  checks: Optional[Iterable[Mapping[str, Any]]] = None,
                  **kwargs: Any) -> "DatasetHandle":
        """A transform node reading this dataset; extra keywords become its params."""
        return self._builder.transform(id=id, engine=engine, inputs=[self], entrypoint=entrypoint,
                                       fn=fn, resources=resources, output_schema=output_schema,
                                       checks=checks, **kwargs)


DatasetRef = Union[DatasetHandle, str]


class PipelineBuilder:
    """Collects nodes and edges of one pipeline while its function runs."""

    def __init__(self,
                 pipeline_id: str,
                 schedule: Optional[str],
                 owner: str,
                 sla_minutes: int,
                 tags: Optional[List[str]] = None,
                 extra: Optional[Dict[str, Any]] = None,
                 location: Optional[SourceLocation] = None) -> None:
        self._pipeline_ir = PipelineIR(
            id=pipeline_id,
            schedule=schedule,
            owner=owner,
            sla_minutes=sla_minutes,
            tags=list(tags or []),
            extra=dict(extra or {}),
            location=location,
        )
        # Free-form scratch space for the pipeline function.
        self.vars: Dict[str, Any] = {}
        self._closed = False

    def close(self) -> None:
        """Called when the pipeline function returned: later calls are mistakes (a dataset of
        this pipeline used while another one is being defined)."""
        self._closed = True

    def _check_open(self, location: Optional[SourceLocation]) -> None:
        if self._closed:
            raise self._error("this pipeline is already built: a dataset of one pipeline cannot be "
                              "used in another", location=location)

    @property
    def ir(self) -> PipelineIR:
        return self._pipeline_ir

    # ---- errors ----

    def _error(self, msg: str, node: str = "", location: Optional[SourceLocation] = None) -> PipelineDefinitionError:
        return PipelineDefinitionError(msg, pipeline=self._pipeline_ir.id, node=node,
                                       location=location or caller_location())

    # ---- nodes ----

    def _node_id(self, value: Any, what: str) -> str:
        if not isinstance(value, str) or not value:
            raise self._error(f"{what} needs an id (a non-empty string), not {value!r}")
        return value

    def _add_node(self, node: NodeIR) -> None:
        nodes = self._pipeline_ir.nodes
        if node.id in nodes:
            first = nodes[node.id].location
            where = ""
            if first is not None and node.location is not None:
                where = f" (first at line {first.line})" if first.file == node.location.file else f" (first at {first})"
            raise self._error(f"duplicate node id {node.id!r}{where}", node.id, node.location)
        nodes[node.id] = node

    def _plugin_params(self, defn: Any, role: str, node_id_hint: str = "") -> "tuple[str, Dict[str, Any]]":
        """(node id, params) from a source/sink builder's dict."""
        if not isinstance(defn, Mapping):
            raise self._error(f"expected a {role} definition such as {role}.onelake(id=..., ...), "
                              f"not {type(defn).__name__}", node_id_hint)
        node_id = self._node_id(defn.get("id"), f"a {role}")
        kind = defn.get("kind")
        if not isinstance(kind, str) or not kind:
            raise self._error(f"the {role} definition has no kind", node_id)
        params: Dict[str, Any] = {}
        for k, v in defn.items():
            if k in ("id", "extra") or v is None:
                continue
            params[k] = v
        self._flatten_extra(defn.get("extra"), params, node_id)
        return node_id, params

    def _flatten_extra(self, extra: Any, into: Dict[str, Any], node_id: str) -> None:
        if extra is None:
            return
        if not isinstance(extra, Mapping):
            into["extra"] = extra
            return
        for k, v in extra.items():
            if v is None:
                continue
            if k in into:
                raise self._error(f"{k!r} is given twice (once inside extra)", node_id)
            into[k] = v

    def _resolve(self, dataset: Any, consumer: str) -> str:
        """The node id a dataset reference names, which must be defined in this pipeline."""
        if isinstance(dataset, DatasetHandle):
            if dataset._builder is not self:
                raise self._error(
                    f"reads dataset {dataset.node_id!r} of pipeline {dataset._builder.ir.id!r}: "
                    "a pipeline can read only datasets it defines", consumer)
            node_id = dataset.node_id
        elif isinstance(dataset, str):
            node_id = dataset
        else:
            raise self._error(f"expected a dataset (what p.read or .transform returned), "
                              f"not {type(dataset).__name__}", consumer)
        node = self._pipeline_ir.nodes.get(node_id)
        if node is None:
            known = ", ".join(sorted(self._pipeline_ir.nodes)) or "none"
            raise self._error(f"reads undefined dataset {node_id!r} (defined: {known})", consumer)
        if node.type == "sink":
            raise self._error(f"reads {node_id!r}, which is a sink and has no output", consumer)
        return node_id

    def dataset(self, node_id: str) -> DatasetHandle:
        """The dataset of an already defined node, by id."""
        return DatasetHandle(self, self._resolve(node_id, ""))

    def _contract(self, output_schema: Optional[Mapping[str, Any]], checks: Any,
                  node_id: str) -> Optional[Dict[str, Any]]:
        """The node's output_schema with ``checks=`` inside it, as YAML's ``checks:`` puts them:
        one place in the IR, so the DSL and YAML give the same IR. The runner validates both."""
        if output_schema is None and checks is None:
            return None
        if output_schema is not None and not isinstance(output_schema, Mapping):
            raise self._error(f"output_schema must be a dict such as {{'columns': [...]}}, "
                              f"not {type(output_schema).__name__}", node_id)
        out: Dict[str, Any] = dict(output_schema or {})
        if checks is not None:
            if isinstance(checks, (str, bytes, Mapping)) or not isinstance(checks, Iterable):
                raise self._error(f"checks must be a list such as [{{'row_count': {{'min': 1}}}}], "
                                  f"not {type(checks).__name__}", node_id)
            if out.get("checks") is not None:
                raise self._error("checks are given twice: as checks= and inside output_schema", node_id)
            out["checks"] = list(checks)
        return out

    def read(self, source_def: Mapping[str, Any], output_schema: Optional[Mapping[str, Any]] = None,
             checks: Optional[Iterable[Mapping[str, Any]]] = None) -> DatasetHandle:
        """A source node; ``source_def`` comes from ``source.<kind>(id=..., ...)``."""
        location = caller_location()
        self._check_open(location)
        node_id, params = self._plugin_params(source_def, "source")
        self._add_node(NodeIR(id=node_id, type="source", engine=None, params=params, location=location,
                              output_schema=self._contract(output_schema, checks, node_id)))
        return DatasetHandle(self, node_id)

    def transform(self,
                  id: str,
                  engine: str,
                  inputs: Iterable[DatasetRef],
                  entrypoint: Optional[str] = None,
                  fn: Optional[str] = None,
                  resources: Optional[Mapping[str, Any]] = None,
                  output_schema: Optional[Mapping[str, Any]] = None,
                  checks: Optional[Iterable[Mapping[str, Any]]] = None,
                  **kwargs: Any) -> DatasetHandle:
        """A transform node reading one or more datasets (``ds.transform`` is the one-input form).
        ``output_schema`` declares its output's columns and ``checks`` its quality checks; the
        runner checks both on the staged output before committing it."""
        location = caller_location()
        self._check_open(location)
        node_id = self._node_id(id, "a transform")
        if not isinstance(engine, str) or not engine:
            raise self._error(f"engine must be a non-empty string, not {engine!r}", node_id)
        if isinstance(inputs, (str, DatasetHandle)):
            inputs = [inputs]
        input_ids: List[str] = []
        for ds in inputs:
            upstream = self._resolve(ds, node_id)
            if upstream not in input_ids:
                input_ids.append(upstream)
        if not input_ids:
            raise self._error("a transform needs at least one input", node_id)
        params = {k: v for k, v in {"entrypoint": entrypoint, "fn": fn, **kwargs}.items() if v is not None}
        self._add_node(NodeIR(id=node_id, type="transform", engine=engine, params=params,
                              resources=self._resources(resources, engine, node_id),
                              input_ids=input_ids, location=location,
                              output_schema=self._contract(output_schema, checks, node_id)))
        for upstream in input_ids:
            self._pipeline_ir.add_edge(upstream, node_id)
        return DatasetHandle(self, node_id)

    def _resources(self, resources: Optional[Mapping[str, Any]], engine: str, node_id: str) -> Dict[str, Any]:
        if resources is None:
            return {}
        if not isinstance(resources, Mapping):
            raise self._error(f"resources must be a dict such as resources.{engine}(...), "
                              f"not {type(resources).__name__}", node_id)
        declared = getattr(resources, "engine", None) or resources.get("engine")
        if declared is not None and declared != engine:
            raise self._error(f"resources are for engine {declared!r} but the transform runs on {engine!r}", node_id)
        out = {k: v for k, v in resources.items() if k not in ("engine", "extra") and v is not None}
        self._flatten_extra(resources.get("extra"), out, node_id)
        return out

    def write(self, dataset: Any, sink_def: Optional[Mapping[str, Any]] = None,
              checks: Optional[Iterable[Mapping[str, Any]]] = None) -> None:
        """A sink node writing ``dataset``; ``sink_def`` comes from ``sink.<kind>(id=..., ...)``."""
        location = caller_location()
        self._check_open(location)
        if sink_def is None and isinstance(dataset, Mapping):
            # p.write(sink.onelake(...)): the dataset was left out.
            node_id, _ = self._plugin_params(dataset, "sink")
            raise self._error("sink has no input: write it as p.write(dataset, sink...)", node_id, location)
        node_id, params = self._plugin_params(sink_def, "sink")
        if dataset is None:
            raise self._error("sink has no input (the dataset is None)", node_id, location)
        upstream = self._resolve(dataset, node_id)
        self._add_node(NodeIR(id=node_id, type="sink", engine=None, params=params,
                              input_ids=[upstream], location=location,
                              output_schema=self._contract(None, checks, node_id)))
        self._pipeline_ir.add_edge(upstream, node_id)
