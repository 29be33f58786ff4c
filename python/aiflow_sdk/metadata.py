"""The metadata store from Python (the seed's ``metadata.py``).

``MetadataStore`` is the store the runner writes (SQLite or PostgreSQL, ``AIFLOW_METADATA_DSN``),
read and written through the runner binary so that Python never depends on its schema:

* ``register_or_update_pipeline(ir)`` records a pipeline version (``aiflow-runner pipelines
  record``); ``aiflow-runner compile`` with ``AIFLOW_METADATA_DSN`` set, and so
  ``aiflow_sdk.compiler`` at every new ``ir_hash``, records versions too;
* ``list_pipelines()``, ``list_runs(pipeline_id=None, status=None, team=None, limit=None)`` and
  ``get_run(run_id, pipeline_id=None)`` return what ``aiflow-runner pipelines list --json`` /
  ``runs list --json`` / ``runs show --json`` print, as dicts;
* node runs are recorded by the runner itself, one attempt row per node process: the seed's
  ``record_node_run_start`` / ``record_node_run_end`` belong to ``InMemoryMetadataStore``.

``InMemoryMetadataStore`` keeps the same records in memory, with the seed's method names, for
tests and for the seed's discovery (``discovery.METADATA_STORE`` defaults to one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Optional

__all__ = ["MetadataStore", "InMemoryMetadataStore", "MetadataError"]


class MetadataError(RuntimeError):
    """The runner could not read or write the store (its message)."""


def _ir_bytes(ir: Any) -> "tuple[str, bytes, str]":
    from .canonical import canonical_json, hash_bytes

    if hasattr(ir, "canonical_json"):
        return ir.id, ir.canonical_json(), ir.ir_hash()
    data = canonical_json(dict(ir))
    return str(ir["id"]), data, hash_bytes(data)


class MetadataStore:
    """The runner's metadata store (``dsn`` defaults to ``AIFLOW_METADATA_DSN`` / the runner's
    default), through the runner binary (``runner`` defaults to ``AIFLOW_RUNNER`` or
    ``aiflow-runner`` on PATH). When the environment pins a team (``AIFLOW_TEAM``), it reads that
    team's pipelines, runs and usage only, as the runner's ``runs``/``pipelines``/``usage`` do."""

    def __init__(self, dsn: Optional[str] = None, runner: Optional[str] = None) -> None:
        self.dsn = dsn
        self.runner = runner or os.environ.get("AIFLOW_RUNNER") or shutil.which("aiflow-runner") or "aiflow-runner"

    def _run(self, *args: str) -> str:
        env = dict(os.environ)
        if self.dsn:
            env["AIFLOW_METADATA_DSN"] = self.dsn
        try:
            proc = subprocess.run([self.runner, *args], capture_output=True, text=True, env=env)
        except OSError as e:
            raise MetadataError(f"cannot run {self.runner}: {e}") from None
        if proc.returncode != 0:
            raise MetadataError(f"aiflow-runner {' '.join(args[:2])} (exit {proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def _json(self, *args: str) -> Any:
        out = self._run(*args, "--json").strip()
        if not out:
            return []
        try:
            return json.loads(out)
        except ValueError:
            # One JSON object per line.
            return [json.loads(line) for line in out.splitlines() if line.strip()]

    def register_or_update_pipeline(self, ir: Any) -> str:
        """Records the pipeline's version (new ir_hash) or moves its last-seen time; returns the hash."""
        pid, data, ir_hash = _ir_bytes(ir)
        with tempfile.TemporaryDirectory(prefix="aiflow-meta-") as tmp:
            path = os.path.join(tmp, f"{pid}.ir.json")
            with open(path, "wb") as f:
                f.write(data)
            self._run("pipelines", "record", path)
        return ir_hash

    def list_pipelines(self) -> List[Dict[str, Any]]:
        return self._json("pipelines", "list")

    def list_runs(self, pipeline_id: Optional[str] = None, status: Optional[str] = None,
                  team: Optional[str] = None, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        args = ["runs", "list"]
        for flag, value in (("--pipeline", pipeline_id), ("--status", status), ("--team", team)):
            if value:
                args += [flag, value]
        if limit:
            args += ["--limit", str(limit)]
        return self._json(*args)

    def get_run(self, run_id: str, pipeline_id: Optional[str] = None) -> Any:
        args = ["runs", "show", run_id]
        if pipeline_id:
            args += ["--pipeline", pipeline_id]
        return self._json(*args)


class InMemoryMetadataStore:
    """The seed's in-memory store: pipeline versions and node runs, for tests and discovery."""

    def __init__(self) -> None:
        self.pipelines: Dict[str, Dict[str, Any]] = {}
        self.node_runs: List[Dict[str, Any]] = []

    def register_or_update_pipeline(self, ir: Any) -> str:
        pid, data, ir_hash = _ir_bytes(ir)
        now = time.time()
        versions = self.pipelines.setdefault(pid, {})
        if ir_hash in versions:
            versions[ir_hash]["last_seen"] = now
        else:
            versions[ir_hash] = {"pipeline": pid, "ir_hash": ir_hash, "ir": json.loads(data), "first_seen": now, "last_seen": now}
        return ir_hash

    def record_node_run_start(self, pipeline_id: str, run_id: str, node_id: str,
                              extra: Optional[Dict[str, Any]] = None) -> None:
        self.node_runs.append({"pipeline_id": pipeline_id, "run_id": run_id, "node_id": node_id,
                               "status": "RUNNING", "extra": extra or {}, "started_at": time.time()})

    def record_node_run_end(self, pipeline_id: str, run_id: str, node_id: str, status: str,
                            error: Optional[str] = None) -> None:
        for r in reversed(self.node_runs):
            if (r["pipeline_id"], r["run_id"], r["node_id"]) == (pipeline_id, run_id, node_id) and r["status"] == "RUNNING":
                r.update(status=status, error=error, ended_at=time.time())
                return
        self.node_runs.append({"pipeline_id": pipeline_id, "run_id": run_id, "node_id": node_id,
                               "status": status, "error": error, "ended_at": time.time()})

    def list_pipelines(self) -> List[Dict[str, Any]]:
        out = []
        for pid, versions in sorted(self.pipelines.items()):
            latest = max(versions.values(), key=lambda v: v["last_seen"])
            out.append({"pipeline": pid, "ir_hash": latest["ir_hash"], "versions": len(versions)})
        return out

    def list_runs(self, pipeline_id: Optional[str] = None, status: Optional[str] = None) -> List[Dict[str, Any]]:
        return [r for r in self.node_runs
                if (pipeline_id is None or r["pipeline_id"] == pipeline_id) and (status is None or r["status"] == status)]

    def get_run(self, run_id: str, pipeline_id: Optional[str] = None) -> List[Dict[str, Any]]:
        return [r for r in self.node_runs if r["run_id"] == run_id and (pipeline_id is None or r["pipeline_id"] == pipeline_id)]
