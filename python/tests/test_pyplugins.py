"""Python plugins that run: a pipeline naming its plugin modules, and aiflow_sdk.pluginrun (the
subprocess the runner starts for an Arrow reader or a sink writer). The whole path through the
runner is internal/cli/pyplugin_test.go."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa

from aiflow_sdk.dsl import pipeline, source

from conftest import REPO_ROOT

PLUGINS = '''
import pyarrow as pa
from aiflow_sdk.plugins import register_source, register_arrow_source_reader, register_sink, register_sink_writer

@register_source("nums")
def nums(id, count, **kw):
    return {"id": id, "kind": "nums", "count": count}

@register_arrow_source_reader("nums")
def read(params, context):
    if params["count"] < 0:
        raise TimeoutError("nums: service timed out")
    for start in range(0, params["count"], 4):
        yield pa.record_batch({"n": list(range(start, min(start + 4, params["count"])))})

@register_sink("total")
def total(id, path, **kw):
    return {"id": id, "kind": "total", "path": path}

@register_sink_writer("total")
def write(data, params, context):
    n = sum(sum(b.column(0).to_pylist()) for b in data)
    with open(params["path"], "w") as f:
        f.write("%s %d" % (context["run_id"], n))
'''


def test_pipeline_names_its_plugin_modules():
    @pipeline(id="p", owner="o", env="dev", plugin_modules=["team_plugins"])
    def p_(p):
        p.read(source.onelake(id="s", table="a.b"))

    assert p_().to_dict()["extra"]["plugin_modules"] == ["team_plugins"]


def _run(tmp_path, req, data_write=None):
    """Runs pluginrun with a pipe as fd 3; returns (exit code, bytes read or None, stderr)."""
    (tmp_path / "team_plugins.py").write_text(PLUGINS)
    r, w = os.pipe()
    child_fd = w if req["mode"] == "read" else r
    req = dict(req, data_fd=3, error_file=str(tmp_path / "error.json"), sys_path=[str(tmp_path)],
               plugin_modules=["team_plugins"])
    (tmp_path / "req.json").write_text(json.dumps(req))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "python"))
    p = subprocess.Popen([sys.executable, "-c", "import os, sys, runpy; os.dup2(int(sys.argv[1]), 3); "
                          "sys.argv = ['pluginrun', sys.argv[2]]; runpy.run_module('aiflow_sdk.pluginrun', run_name='__main__')",
                          str(child_fd), str(tmp_path / "req.json")],
                         pass_fds=(child_fd,), stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    os.close(child_fd)
    got = None
    if req["mode"] == "read":
        with os.fdopen(r, "rb") as f:
            got = f.read()
    else:
        with os.fdopen(w, "wb") as f:
            data_write(f)
    _, err = p.communicate(timeout=120)
    return p.returncode, got, err.decode()


def test_read_streams_the_readers_batches(tmp_path):
    code, got, err = _run(tmp_path, {"mode": "read", "kind": "nums", "params": {"count": 10}, "context": {}})
    assert code == 0, err
    t = pa.ipc.open_stream(got).read_all()
    assert t.column("n").to_pylist() == list(range(10))


def test_unavailable_service_is_exit_6(tmp_path):
    code, _, err = _run(tmp_path, {"mode": "read", "kind": "nums", "params": {"count": -1}, "context": {}})
    assert code == 6, err
    rec = json.loads((tmp_path / "error.json").read_text())
    assert rec["last_line"] == "TimeoutError: nums: service timed out"


def test_write_gets_the_stream(tmp_path):
    out = tmp_path / "total.txt"

    def feed(f):
        with pa.ipc.new_stream(f, pa.schema([("n", pa.int64())])) as w:
            w.write_batch(pa.record_batch({"n": [1, 2, 3]}))
            w.write_batch(pa.record_batch({"n": [4]}))

    code, _, err = _run(tmp_path, {"mode": "write", "kind": "total", "params": {"path": str(out)},
                                   "context": {"run_id": "r1"}}, feed)
    assert code == 0, err
    assert out.read_text() == "r1 10"


def test_unknown_kind_is_a_bad_request(tmp_path):
    code, _, err = _run(tmp_path, {"mode": "read", "kind": "nope", "params": {}, "context": {}})
    assert code == 2 and "registered: nums" in err
