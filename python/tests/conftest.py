"""Shared fixtures: the SDK importable without installing it, paths, a subprocess helper."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PYTHON_DIR.parent
EXAMPLE_DIR = REPO_ROOT / "examples" / "user_features"

if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))


def sdk_env() -> dict:
    """The environment for a subprocess that must import aiflow_sdk from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(PYTHON_DIR), env.get("PYTHONPATH", "")] if p)
    return env


def run_python(args: List[str], cwd: Path = REPO_ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=str(cwd), env=sdk_env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def clean_registries():
    """Removes whatever a test registers, so tests stay independent."""
    from aiflow_sdk import plugins

    regs = [plugins.SOURCE_REGISTRY, plugins.SINK_REGISTRY, plugins.ENGINE_REGISTRY, plugins.SPARK_SOURCE_READERS]
    before = [dict(r) for r in regs]
    yield
    for r, b in zip(regs, before):
        r.clear()
        r.update(b)


@pytest.fixture
def isolated_imports():
    """Restores sys.path and drops modules imported from temporary folders."""
    path = list(sys.path)
    modules = set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]
