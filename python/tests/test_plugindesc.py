"""python -m aiflow_sdk.plugindesc: the kinds a team's plugin modules register (the runner reads
this when AIFLOW_PLUGIN_MODULES is set)."""

import json
import os
import subprocess
import sys

from conftest import REPO_ROOT


def run(tmp_path, *modules):
    out = tmp_path / "plugins.json"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "python"),
               AIFLOW_SYS_PATH=str(REPO_ROOT / "examples" / "internal_kafka"))
    r = subprocess.run([sys.executable, "-m", "aiflow_sdk.plugindesc", str(out), *modules],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    return r, (json.loads(out.read_text()) if out.exists() else None)


def test_seed_plugin_module(tmp_path):
    r, d = run(tmp_path, "my_team_plugins")
    assert r.returncode == 0, r.stderr
    assert set(d["sources"]) == {"internal_kafka"} and d["sources"]["internal_kafka"]["module"] == "my_team_plugins"
    assert d["spark_readers"] == ["internal_kafka"] and d["sinks"] == {}


def test_missing_module(tmp_path):
    r, d = run(tmp_path, "no_such_plugins")
    assert r.returncode == 2 and d is None
    assert "no_such_plugins" in r.stderr.strip().splitlines()[-1]
