"""IR -> Airflow DAG (the seed's ``compiler.py``), with one source of truth: the runner binary.

``compile_pipeline_to_airflow_dag(ir)`` writes the pipeline's canonical IR, has
``aiflow-runner compile`` generate the DAG file (exactly what ``aiflow-runner compile`` writes
for the DAG folder), and loads it: the returned ``DAG`` is identical to the static file's. The
generated file is cached by the pipeline's ``ir_hash`` (plus target, profiles and runner binary),
so a DAG-folder entry file in the spirit of the seed's ``generated_pipelines.py``::

    # airflow_dags/generated_pipelines.py
    from aiflow_sdk.discovery import discover_pipelines
    from aiflow_sdk.compiler import compile_pipeline_to_airflow_dag

    for pipeline_ir in discover_pipelines("user_repo.pipelines"):
        dag = compile_pipeline_to_airflow_dag(pipeline_ir)
        globals()[dag.dag_id] = dag

costs, once the cache is warm, the import of the pipeline modules and the load of the static
files: no runner process. Configuration (environment):

* ``AIFLOW_RUNNER`` — the runner binary (default: ``aiflow-runner`` on PATH);
* ``AIFLOW_DAG_CACHE`` — the cache folder (default: ``$AIFLOW_HOME/dag-cache``, with
  ``AIFLOW_HOME`` defaulting to ``./.aiflow``);
* ``AIFLOW_COMPILE_TARGET`` — ``kubernetes`` (default) or ``local``;
* ``AIFLOW_COMPILE_PROFILES`` — a deployment profiles file (``aiflow-runner compile --profiles``).

Airflow (and, for the kubernetes target, its cncf.kubernetes provider) must be importable where
the DAG is loaded; this module imports nothing of Airflow itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Union

__all__ = ["compile_pipeline_to_airflow_dag", "compile_pipeline_to_file", "CompileError"]


class CompileError(RuntimeError):
    """The runner refused the pipeline (its message, one line per problem) or could not run."""


def _canonical(pipeline_ir: Any) -> "tuple[str, bytes, str]":
    """(pipeline id, canonical IR bytes, ir_hash) of a PipelineIR, an IR dict or IR JSON text."""
    from .canonical import canonical_json, hash_bytes

    if hasattr(pipeline_ir, "canonical_json"):
        data = pipeline_ir.canonical_json()
        data = data.encode("utf-8") if isinstance(data, str) else data
        return pipeline_ir.id, data, pipeline_ir.ir_hash()
    if isinstance(pipeline_ir, (str, bytes)):
        pipeline_ir = json.loads(pipeline_ir)
    if not isinstance(pipeline_ir, Mapping):
        raise TypeError(f"compile_pipeline_to_airflow_dag: want a PipelineIR or an IR dict, not {type(pipeline_ir).__name__}")
    data = canonical_json(dict(pipeline_ir))
    data = data.encode("utf-8") if isinstance(data, str) else data
    return str(pipeline_ir["id"]), data, hash_bytes(data)


def _runner(runner: Optional[str]) -> str:
    r = runner or os.environ.get("AIFLOW_RUNNER") or shutil.which("aiflow-runner")
    if not r or not os.path.exists(r):
        raise CompileError("no aiflow-runner: set AIFLOW_RUNNER or put aiflow-runner on PATH")
    return r


def _cache_dir(cache_dir: Optional[Union[str, Path]]) -> Path:
    if cache_dir:
        return Path(cache_dir)
    if os.environ.get("AIFLOW_DAG_CACHE"):
        return Path(os.environ["AIFLOW_DAG_CACHE"])
    return Path(os.environ.get("AIFLOW_HOME", ".aiflow")) / "dag-cache"


def compile_pipeline_to_file(pipeline_ir: Any, *, target: Optional[str] = None, profiles: Optional[str] = None,
                             runner: Optional[str] = None, cache_dir: Optional[Union[str, Path]] = None) -> Path:
    """The generated DAG file of the pipeline, compiled by the runner once per cache key."""
    pid, data, ir_hash = _canonical(pipeline_ir)
    target = target or os.environ.get("AIFLOW_COMPILE_TARGET") or "kubernetes"
    profiles = profiles or os.environ.get("AIFLOW_COMPILE_PROFILES") or None
    r = _runner(runner)
    key = hashlib.sha256()
    st = os.stat(r)
    key.update(f"{ir_hash}\0{target}\0{os.path.abspath(r)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    if profiles:
        key.update(Path(profiles).read_bytes())
    out = _cache_dir(cache_dir) / f"{pid}-{key.hexdigest()[:20]}.py"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aiflow-compile-") as tmp:
        ir_file = Path(tmp) / f"{pid}.ir.json"
        ir_file.write_bytes(data)
        gen = Path(tmp) / "dags"
        cmd = [r, "compile", str(ir_file), "--out", str(gen), "--target", target]
        if target == "local":
            cmd += ["--runner", os.path.abspath(r)]
        if profiles:
            cmd += ["--profiles", profiles]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CompileError(f"aiflow-runner compile {pid} (exit {proc.returncode}): {proc.stderr.strip()}")
        files = sorted(gen.glob("*.py"))
        if len(files) != 1:
            raise CompileError(f"aiflow-runner compile {pid}: expected one DAG file, got {[f.name for f in files]}")
        # Atomic publish: a concurrent parser sees the old state or the whole file.
        part = out.with_suffix(f".{os.getpid()}.part")
        shutil.copyfile(files[0], part)
        os.replace(part, out)
    return out


def compile_pipeline_to_airflow_dag(pipeline_ir: Any, **kwargs: Any) -> Any:
    """The Airflow ``DAG`` of the pipeline: the runner's generated file, loaded.

    Keyword arguments are those of :func:`compile_pipeline_to_file`.
    """
    pid, _, _ = _canonical(pipeline_ir)
    path = compile_pipeline_to_file(pipeline_ir, **kwargs)
    name = "aiflow_generated_" + path.stem.replace("-", "_")
    mod = sys.modules.get(name)
    if mod is None or getattr(mod, "__file__", None) != str(path):
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise CompileError(f"cannot load {path}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    for value in vars(mod).values():
        if getattr(value, "dag_id", None) == pid and type(value).__name__ == "DAG":
            return value
    raise CompileError(f"{path} defines no DAG {pid!r}")
