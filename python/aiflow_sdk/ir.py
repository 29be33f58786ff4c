"""PipelineIR and NodeIR: the seed's data model plus api_version.

The IR is aiflow's contract between authoring and everything downstream. Its
JSON form is produced by :meth:`PipelineIR.to_dict` in the same normalized shape as Go's
``Pipeline.Normalize`` (tenancy keys present in ``extra``, tags merged and sorted, edges completed
from ``input_ids``, sorted and deduplicated), so :meth:`PipelineIR.canonical_json` gives the
same bytes, and :meth:`PipelineIR.ir_hash` the same hash, as the Go runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .canonical import canonical_json, hash_bytes
from .errors import SourceLocation
from .tenancy import TENANCY_KEYS, tenancy_tags

__all__ = ["API_VERSION", "DEFAULT_SLA_MINUTES", "NodeIR", "PipelineIR"]

API_VERSION = "aiflow/v1"
DEFAULT_SLA_MINUTES = 60


@dataclass
class NodeIR:
    """One step: ``type`` is "source" | "transform" | "sink"; sources and sinks name their
    plugin in ``params["kind"]``, transforms name their ``engine``."""

    id: str
    type: str
    engine: Optional[str]
    params: Dict[str, Any] = field(default_factory=dict)
    resources: Dict[str, Any] = field(default_factory=dict)
    input_ids: List[str] = field(default_factory=list)
    output_schema: Optional[Dict[str, Any]] = None
    # Where the node was defined, for error messages; not part of the IR.
    location: Optional[SourceLocation] = field(default=None, compare=False, repr=False)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "engine": self.engine,
            "params": dict(self.params or {}),
            "resources": dict(self.resources or {}),
            "input_ids": list(self.input_ids or []),
            "output_schema": self.output_schema,
        }


@dataclass
class PipelineIR:
    """A pipeline: nodes keyed by id, edges as (from, to) pairs, tenancy in ``extra``."""

    id: str
    schedule: Optional[str]
    owner: str
    sla_minutes: int = DEFAULT_SLA_MINUTES
    tags: List[str] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)
    nodes: Dict[str, NodeIR] = field(default_factory=dict)
    edges: List[Tuple[str, str]] = field(default_factory=list)
    api_version: str = API_VERSION
    # Where the pipeline was declared (the @pipeline line); not part of the IR.
    location: Optional[SourceLocation] = field(default=None, compare=False, repr=False)

    def add_node(self, node: NodeIR) -> None:
        if node.id in self.nodes:
            raise ValueError(f"Duplicate node id: {node.id}")
        self.nodes[node.id] = node

    def add_edge(self, src_id: str, dst_id: str) -> None:
        self.edges.append((src_id, dst_id))

    def normalized_edges(self) -> List[Tuple[str, str]]:
        """Explicit edges plus one per input id, sorted and deduplicated (Go's Normalize)."""
        edges = {(a, b) for a, b in self.edges}
        for node_id, node in self.nodes.items():
            for upstream in node.input_ids:
                edges.add((upstream, node_id))
        return sorted(edges)

    def to_dict(self) -> Dict[str, Any]:
        """The IR as a JSON-like dict in normalized form (what canonical JSON is taken of)."""
        extra = dict(self.extra)
        for k in TENANCY_KEYS:
            extra.setdefault(k, None)
        return {
            "api_version": self.api_version,
            "id": self.id,
            "schedule": self.schedule,
            "owner": self.owner,
            "sla_minutes": self.sla_minutes,
            "tags": tenancy_tags(self.tags, extra),
            "extra": extra,
            "nodes": {nid: n.to_dict() for nid, n in self.nodes.items()},
            "edges": [[a, b] for a, b in self.normalized_edges()],
        }

    def canonical_json(self) -> bytes:
        """Canonical JSON bytes, identical to ``aiflow-runner plan --json``'s ``ir``."""
        return canonical_json(self.to_dict())

    def ir_hash(self) -> str:
        """Hex sha256 of the canonical JSON."""
        return hash_bytes(self.canonical_json())
