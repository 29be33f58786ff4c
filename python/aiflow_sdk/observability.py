"""Structured logs and metrics from a node's own code (the seed's ``observability.py``).

Inside a python node or a PySpark entrypoint (the runner sets ``AIFLOW_NODE_ID``), every record
goes to stdout as one JSON line that the runner takes into the node's own log stream (with the
pipeline, node, run_id, try and tenancy fields of every runner line; your fields under
``user.``) and, for metrics, into the node's Prometheus metrics (pushed to the Pushgateway and
served on /metrics like the ``aiflow_node_*`` ones): ``incr("orders_seen", 3)`` adds to
``aiflow_user_orders_seen_total``, ``observe("batch_seconds", 0.2)`` and ``track_duration`` feed
the histogram ``aiflow_user_batch_seconds``. Keyword arguments of ``incr``/``observe`` are labels
(keep one set of label names per metric).

Outside a node the same calls print the same JSON lines, and a ``MetricsClient`` also keeps what
it recorded in ``samples`` (for tests).

    from aiflow_sdk.observability import MetricsClient, structured_log, track_duration

    structured_log("info", "enrich_start", rows_expected=1000)
    metrics = MetricsClient()
    with track_duration("enrich_seconds", stage="join"):
        ...
    metrics.incr("orders_seen", 1000, channel="web")
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Tuple

__all__ = ["structured_log", "MetricsClient", "track_duration", "METRICS"]

_LEVELS = ("debug", "info", "warn", "warning", "error")


def _emit(record: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def structured_log(level: str, msg: str, **fields: Any) -> None:
    """One structured log record: ``level`` is debug, info, warn(ing) or error."""
    lv = str(level).lower()
    if lv not in _LEVELS:
        raise ValueError(f"structured_log: level {level!r} is not one of {', '.join(_LEVELS)}")
    if lv == "warning":
        lv = "warn"
    _emit({"aiflow_record": "log", "level": lv, "msg": str(msg), "fields": fields})


class MetricsClient:
    """Counters (``incr``) and observations (``observe``) of the node's own code."""

    def __init__(self) -> None:
        self.samples: List[Tuple[str, str, float, Dict[str, str]]] = []

    def _record(self, kind: str, name: str, value: float, labels: Dict[str, Any]) -> None:
        if not name:
            raise ValueError("a metric needs a name")
        value = float(value)
        str_labels = {str(k): str(v) for k, v in labels.items()}
        self.samples.append((kind, name, value, str_labels))
        _emit({"aiflow_record": "metric", "kind": kind, "name": name, "value": value, "labels": str_labels})

    def incr(self, name: str, value: float = 1, **labels: Any) -> None:
        """Adds value (>= 0) to the counter ``aiflow_user_<name>_total``."""
        if value < 0:
            raise ValueError(f"incr({name!r}): a counter cannot decrease ({value})")
        self._record("counter", name, value, labels)

    def observe(self, name: str, value: float, **labels: Any) -> None:
        """Observes value in the histogram ``aiflow_user_<name>``."""
        self._record("observe", name, value, labels)


#: The process-wide client that track_duration uses.
METRICS = MetricsClient()


@contextmanager
def track_duration(name: str, **labels: Any) -> Iterator[None]:
    """Observes the wall time of the block, in seconds, in ``name`` (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        METRICS.observe(name, time.perf_counter() - start, **labels)
