"""``python -m aiflow_sdk.plugindesc OUT.json MODULE...``: what a team's plugin modules register.

The Go runner runs this when ``AIFLOW_PLUGIN_MODULES`` names modules (``my_team_plugins``) so
that ``validate``, ``compile`` and ``run`` accept the source and sink kinds they register with
the seed's ``register_source`` / ``register_sink``, and know which engines read them (their
readers) and which sinks run (their writers). The modules are imported from the
folders of ``AIFLOW_PYTHONPATH`` (passed as ``AIFLOW_SYS_PATH``, colon-separated) and the
working directory; aiflow's built-in plugins are not reported. OUT.json receives::

    {"sources": {"internal_kafka": {"module": "my_team_plugins", "doc": "..."}},
     "sinks": {...},
     "spark_readers": ["internal_kafka"],
     "arrow_readers": [...],     # kinds with register_arrow_source_reader
     "sink_writers": [...]}      # kinds with register_sink_writer

Exit 0, or 2 with the reason on stderr (a module that cannot be imported or raises).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any, Dict, List, Optional


def _info(fn: Any) -> Dict[str, str]:
    doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
    return {"module": getattr(fn, "__module__", "") or "", "doc": doc[0] if doc else ""}


def describe(modules: List[str]) -> Dict[str, Any]:
    from . import builtin_plugins  # noqa: F401 - the built-ins register first and are left out
    from .plugins import (ARROW_SOURCE_READERS, SINK_REGISTRY, SINK_WRITERS, SOURCE_REGISTRY,
                          SPARK_SOURCE_READERS)

    sources0, sinks0, readers0 = set(SOURCE_REGISTRY), set(SINK_REGISTRY), set(SPARK_SOURCE_READERS)
    arrow0, writers0 = set(ARROW_SOURCE_READERS), set(SINK_WRITERS)
    for name in modules:
        importlib.import_module(name)
    return {
        "sources": {k: _info(v) for k, v in sorted(SOURCE_REGISTRY.items()) if k not in sources0},
        "sinks": {k: _info(v) for k, v in sorted(SINK_REGISTRY.items()) if k not in sinks0},
        "spark_readers": sorted(k for (_, k) in SPARK_SOURCE_READERS if (_, k) not in readers0),
        "arrow_readers": sorted(k for (_, k) in ARROW_SOURCE_READERS if (_, k) not in arrow0),
        "sink_writers": sorted(k for (_, k) in SINK_WRITERS if (_, k) not in writers0),
    }


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print("usage: python -m aiflow_sdk.plugindesc OUT.json MODULE...", file=sys.stderr)
        return 2
    for folder in reversed([os.getcwd()] + [p for p in os.environ.get("AIFLOW_SYS_PATH", "").split(":") if p]):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        desc = describe(args[1:])
    except BaseException as e:  # noqa: BLE001 - any failure of a plugin module is reported
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        traceback.print_exc()
        print(f"plugin modules {', '.join(args[1:])}: {type(e).__name__}: {lines[0] if lines else ''}", file=sys.stderr)
        return 2
    with open(args[0], "w", encoding="utf-8") as f:
        json.dump(desc, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
