"""Tenancy fields (team, env, project, cost_center) and the tags made from them.

Mirrors ``ir/tenancy.go``: the tag list in the IR is the sorted, deduplicated union of the
author's tags and ``key:value`` for every non-empty tenancy value, so the order the author
wrote tags in never changes the hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, List, Mapping

if TYPE_CHECKING:
    from .ir import PipelineIR

__all__ = ["TENANCY_KEYS", "tenancy_tags", "normalize_tenant_tags"]

TENANCY_KEYS = ("team", "env", "project", "cost_center")


def tenancy_tags(tags: Iterable[str], extra: Mapping[str, Any]) -> List[str]:
    """Tags merged with ``key:value`` tenancy tags, deduplicated and sorted."""
    out = set(tags)
    for k in TENANCY_KEYS:
        v = extra.get(k)
        if isinstance(v, str) and v:
            out.add(f"{k}:{v}")
    return sorted(out)


def normalize_tenant_tags(ir: "PipelineIR") -> None:
    """Ensures every tenancy key is in ``extra`` (null when not given) and merges the tags."""
    for k in TENANCY_KEYS:
        ir.extra.setdefault(k, None)
    ir.tags = tenancy_tags(ir.tags, ir.extra)
