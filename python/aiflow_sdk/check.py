"""Checks built pipelines with the Go runner and reports each problem at the user's ``.py`` line.

The runner's ``validate`` is the one implementation of every check a pipeline gets (plugin
fields with their did-you-mean, engines, expressions, schedules, env, params, templates); the
DSL records where each pipeline and node was declared, so a problem the runner finds in the IR
is reported at that line of the user's code instead of at the IR JSON file::

    pipelines/orders.py:12: daily_orders/orders: unknown field "fromat" (did you mean "format"?)

``python -m aiflow_sdk build`` runs it on the files it wrote when it finds the runner
(``AIFLOW_RUNNER``, or ``aiflow-runner`` on ``PATH``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Dict, List, Optional, Sequence

from .ir import PipelineIR

__all__ = ["find_runner", "check_with_runner", "runner_version_warning", "RunnerCheckError"]


class RunnerCheckError(Exception):
    """The runner could not check the files (it failed in another way than finding problems)."""


def find_runner(runner: Optional[str] = None) -> Optional[str]:
    """The runner binary: the argument, ``AIFLOW_RUNNER``, or ``aiflow-runner`` on PATH."""
    r = runner or os.environ.get("AIFLOW_RUNNER") or shutil.which("aiflow-runner")
    return r if r and os.path.exists(r) else None


def runner_version_warning(runner: str) -> Optional[str]:
    """A warning when the runner's release differs from this SDK's (``aiflow-runner version
    --json``), else None: IR the SDK writes is checked, compiled and run by that runner."""
    from . import __version__

    proc = subprocess.run([runner, "version", "--json"], capture_output=True, text=True)
    try:
        got = json.loads(proc.stdout)["version"]
    except (ValueError, KeyError, TypeError):
        return f"warning: {runner} version --json (exit {proc.returncode}) did not say its version"
    if got.split("+")[0] != __version__:
        return (f"warning: aiflow_sdk {__version__} and {runner} {got} are different releases: "
                f"install the matching ones (pip install aiflow-sdk=={got.split('+')[0]}, or that runner)")
    return None


def check_with_runner(irs: Sequence[PipelineIR], paths: Sequence[str], runner: str) -> List[str]:
    """Runs ``runner validate --json`` on the IR files ``paths`` (those of ``irs``) and returns
    one line per problem, located at the pipeline's or node's ``.py`` line when known."""
    proc = subprocess.run([runner, "validate", "--json", *paths], capture_output=True, text=True)
    if proc.returncode == 0:
        return []
    problems = []
    for line in proc.stdout.splitlines():
        try:
            problems.append(json.loads(line))
        except ValueError:
            continue
    if proc.returncode != 78 or not problems:
        raise RunnerCheckError(f"{runner} validate (exit {proc.returncode}): {proc.stderr.strip()}")
    by_id: Dict[str, PipelineIR] = {ir.id: ir for ir in irs}
    out = []
    for p in problems:
        pid, node_id, msg = p.get("pipeline", ""), p.get("node", ""), p.get("problem", "")
        ir = by_id.get(pid)
        loc = None
        if ir is not None:
            node = ir.nodes.get(node_id) if node_id else None
            loc = (node.location if node is not None else None) or ir.location
        where = f"{loc}: " if loc else (f"{p.get('file')}:{p.get('line')}: " if p.get("file") else "")
        what = pid + (f"/{node_id}" if node_id else "")
        out.append(f"{where}{what + ': ' if what else ''}{msg}")
    return out
