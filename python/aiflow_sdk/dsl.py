"""The user's DSL: ``pipeline``, ``source``, ``sink``, ``resources``.

    from aiflow_sdk.dsl import pipeline, source, sink, resources

    @pipeline(id="daily_user_feature_pipeline", schedule="0 3 * * *", owner="team_feature",
              team="feature-platform", env="prod", project="feature-store")
    def daily_user_feature(p):
        orders = p.read(source.onelake(id="orders_onelake", table="raw.sales_orders"))
        ...

``source``, ``sink`` and ``resources`` look their attributes up in the registries at call
time, so ``source.internal_kafka(...)`` works as soon as a team module has run
``@register_source("internal_kafka")``; ``source("internal_kafka", ...)`` is the
same call by name. Pure Python, no dependencies.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Callable, Dict, List, Mapping, Optional

from . import builtin_plugins  # noqa: F401  (registers the built-in kinds)
from .builder import DatasetHandle, EngineResources, PipelineBuilder
from .canonical import canonical_json
from .errors import PipelineDefinitionError, SourceLocation, caller_location
from .ir import DEFAULT_SLA_MINUTES, PipelineIR
from .plugins import ENGINE_REGISTRY, SINK_REGISTRY, SOURCE_REGISTRY
from .tenancy import TENANCY_KEYS, normalize_tenant_tags

__all__ = ["pipeline", "source", "sink", "resources", "PipelineBuilder", "DatasetHandle",
           "PipelineDefinitionError", "is_pipeline"]


def _call_builder(role: str, name: str, builder: Callable[..., Any], args: tuple,
                  kwargs: Dict[str, Any], location: Optional[SourceLocation]) -> Any:
    """Calls a registered builder, turning a wrong call into an error at the user's line."""
    try:
        sig = inspect.signature(builder)
    except (TypeError, ValueError):  # no signature (a builtin or C callable): just call it
        return builder(*args, **kwargs)
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        # A misspelt required argument shows up as that argument missing: name the keyword meant.
        named = [p for p, v in sig.parameters.items() if v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)]
        hints = [f"{close[0]!r} for {k!r}" for k in kwargs if k not in sig.parameters
                 for close in [difflib.get_close_matches(k, named, n=1)] if close]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise PipelineDefinitionError(f"{role}.{name}(...): {e}{hint}", node=str(kwargs.get("id") or ""),
                                      location=location) from None
    return builder(*args, **kwargs)


class _Plugins:
    """Attribute access to one registry: ``source.onelake(...)`` calls the "onelake" builder."""

    def __init__(self, role: str, registry: Dict[str, Callable[..., Any]]) -> None:
        self._role = role
        self._registry = registry

    def __repr__(self) -> str:
        return f"<aiflow {self._role}s: {', '.join(sorted(self._registry))}>"

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self._registry))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._registry:
            close = difflib.get_close_matches(name, sorted(self._registry), n=1)
            hint = f" (did you mean {self._role}.{close[0]}?)" if close else ""
            loc = caller_location()
            where = f"{loc}: " if loc else ""
            raise AttributeError(f"{where}unknown {self._role} kind {name!r}{hint}; registered: "
                                 f"{', '.join(sorted(self._registry))}")

        def build(*args: Any, **kwargs: Any) -> Any:
            return self(name, *args, **kwargs)

        build.__name__ = name
        build.__doc__ = self._registry[name].__doc__
        return build

    def __call__(self, kind: str, *args: Any, **kwargs: Any) -> Any:
        location = caller_location()
        builder = self._registry.get(kind)
        if builder is None:
            close = difflib.get_close_matches(kind, sorted(self._registry), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PipelineDefinitionError(f"unknown {self._role} kind {kind!r}{hint}", location=location)
        return self._finish(kind, _call_builder(self._role, kind, builder, args, kwargs, location), location)

    def _finish(self, kind: str, result: Any, location: Optional[SourceLocation]) -> Any:
        if not isinstance(result, Mapping):
            raise PipelineDefinitionError(
                f"the {self._role} builder {kind!r} returned {type(result).__name__}, not a dict", location=location)
        out = dict(result)
        out.setdefault("kind", kind)
        return out


class _Resources(_Plugins):
    def _finish(self, kind: str, result: Any, location: Optional[SourceLocation]) -> Any:
        if not isinstance(result, Mapping):
            raise PipelineDefinitionError(
                f"the engine builder {kind!r} returned {type(result).__name__}, not a dict", location=location)
        return EngineResources(kind, {k: v for k, v in result.items() if k != "engine"})


source = _Plugins("source", SOURCE_REGISTRY)
sink = _Plugins("sink", SINK_REGISTRY)
resources = _Resources("resources", ENGINE_REGISTRY)


def is_pipeline(obj: Any) -> bool:
    """Whether obj is a function decorated with @pipeline."""
    return callable(obj) and isinstance(getattr(obj, "_pipeline_id", None), str) and hasattr(obj, "_pipeline_fn")


def _check_json(value: Any, what: str, pipeline_id: str, node: str, location: Optional[SourceLocation]) -> None:
    try:
        canonical_json(value)
    except (TypeError, ValueError) as e:
        raise PipelineDefinitionError(f"{what}: {e}", pipeline=pipeline_id, node=node, location=location) from None


def pipeline(id: str,
             schedule: Optional[str] = None,
             owner: str = "",
             sla_minutes: int = DEFAULT_SLA_MINUTES,
             tags: Optional[List[str]] = None,
             team: Optional[str] = None,
             env: Optional[str] = None,
             project: Optional[str] = None,
             cost_center: Optional[str] = None,
             **extra: Any) -> Callable[[Callable[[PipelineBuilder], Any]], Callable[[], PipelineIR]]:
    """Declares a pipeline. The decorated function receives a :class:`PipelineBuilder` ``p``;
    calling the decorated name returns a fresh :class:`PipelineIR`.

    Tenancy fields and any further keywords (``description=``, ``params=``, ...) go into the
    IR's ``extra``, as the YAML ``pipeline:`` keys do; ``extra={...}`` is merged the same way.
    """
    location = caller_location()

    def fail(msg: str) -> PipelineDefinitionError:
        return PipelineDefinitionError(msg, pipeline=id if isinstance(id, str) else "", location=location)

    if not isinstance(id, str) or not id:
        raise fail(f"@pipeline needs an id (a non-empty string), not {id!r}")
    if schedule is not None and not isinstance(schedule, str):
        raise fail(f"schedule must be a string (cron or preset) or None, not {schedule!r}")
    if not isinstance(owner, str):
        raise fail(f"owner must be a string, not {owner!r}")
    if isinstance(sla_minutes, float) and sla_minutes.is_integer():
        sla_minutes = int(sla_minutes)
    if isinstance(sla_minutes, bool) or not isinstance(sla_minutes, int):
        raise fail(f"sla_minutes must be an integer, not {sla_minutes!r}")
    if isinstance(tags, str) or not isinstance(tags, (list, tuple, type(None))) or \
            not all(isinstance(t, str) for t in tags or []):
        raise fail(f"tags must be a list of strings, not {tags!r}")
    nested = extra.pop("extra", None)
    if nested is not None and not isinstance(nested, Mapping):
        raise fail(f"extra must be a dict, not {type(nested).__name__}")
    merged: Dict[str, Any] = dict(nested or {})
    for k, v in extra.items():
        if k in merged:
            raise fail(f"{k} is given both as a keyword and in extra")
        merged[k] = v
    for k, v in {"team": team, "env": env, "project": project, "cost_center": cost_center}.items():
        if v is None:
            merged.setdefault(k, None)
        elif k in merged and merged[k] is not None:
            raise fail(f"{k} is given both as a keyword and in extra")
        else:
            merged[k] = v
    for k in TENANCY_KEYS:
        if merged.get(k) is not None and not isinstance(merged[k], str):
            raise fail(f"{k} must be a string or None, not {merged[k]!r}")
    _check_json(merged, "pipeline extra", id, "", location)
    tag_list = list(tags or [])

    def decorator(fn: Callable[[PipelineBuilder], Any]) -> Callable[[], PipelineIR]:
        def wrapper() -> PipelineIR:
            builder = PipelineBuilder(pipeline_id=id, schedule=schedule, owner=owner,
                                      sla_minutes=sla_minutes, tags=tag_list, extra=dict(merged),
                                      location=location)
            try:
                fn(builder)
            finally:
                builder.close()
            ir = builder.ir
            normalize_tenant_tags(ir)
            for node in ir.nodes.values():
                _check_json(node.params, "params", id, node.id, node.location)
                _check_json(node.resources, "resources", id, node.id, node.location)
            return ir

        functools.update_wrapper(wrapper, fn)
        del wrapper.__wrapped__  # the wrapper takes no arguments; don't advertise fn's signature
        wrapper._pipeline_id = id  # type: ignore[attr-defined]
        wrapper._pipeline_fn = fn  # type: ignore[attr-defined]
        wrapper._pipeline_location = location  # type: ignore[attr-defined]
        return wrapper

    return decorator
