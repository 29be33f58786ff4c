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


def test_readers_and_writers(tmp_path):
    (tmp_path / "arrow_team.py").write_text(
        "from aiflow_sdk.plugins import register_source, register_sink, register_arrow_source_reader, register_sink_writer\n"
        "@register_source('nums')\n"
        "def nums(id, **kw):\n    '''Numbers.'''\n    return {'id': id, 'kind': 'nums'}\n"
        "@register_arrow_source_reader('nums')\n"
        "def read(params, context):\n    return None\n"
        "@register_sink('dump')\n"
        "def dump(id, **kw):\n    return {'id': id, 'kind': 'dump'}\n"
        "@register_sink_writer('dump')\n"
        "def write(data, params, context):\n    pass\n")
    r, d = run(tmp_path, "arrow_team")
    assert r.returncode == 0, r.stderr
    assert d["sources"]["nums"] == {"module": "arrow_team", "doc": "Numbers."}
    assert d["arrow_readers"] == ["nums"] and d["sink_writers"] == ["dump"]
    assert d["spark_readers"] == [] and set(d["sinks"]) == {"dump"}
