"""python -m aiflow_sdk build: canonical IR files the Go runner loads, same hash as the YAML."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from aiflow_sdk.canonical import canonical_json

from conftest import EXAMPLE_DIR, REPO_ROOT, run_python
from test_dsl_ir import EXAMPLE_HASH


def test_build_example(tmp_path):
    r = run_python(["-m", "aiflow_sdk", "build", "examples/user_features/user_features.py", "--out", str(tmp_path)])
    assert r.returncode == 0, r.stderr
    out = tmp_path / "daily_user_feature_pipeline.ir.json"
    assert r.stdout.split() == [str(out), EXAMPLE_HASH]
    want = canonical_json(json.loads((EXAMPLE_DIR / "pipeline.ir.json").read_text(encoding="utf-8")))
    assert out.read_bytes() == want  # exactly the canonical bytes, no newline
    assert os.listdir(tmp_path) == [out.name]


def test_build_package_two_pipelines(tmp_path):
    pkg = tmp_path / "repo" / "pipes"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for pid in ("one", "two"):
        (pkg / f"{pid}.py").write_text(
            "from aiflow_sdk.dsl import pipeline, source\n"
            f"@pipeline(id='{pid}', owner='o')\n"
            "def p_(p):\n    p.read(source.onelake(id='s', table='a.b'))\n")
    out = tmp_path / "out"
    r = run_python(["-m", "aiflow_sdk", "build", "pipes", "--out", str(out)], cwd=tmp_path / "repo")
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["one.ir.json", "two.ir.json"]
    r = run_python(["-m", "aiflow_sdk", "build", "pipes", "--out", str(tmp_path / "o2"), "--pipeline", "two"],
                   cwd=tmp_path / "repo")
    assert r.returncode == 0 and os.listdir(tmp_path / "o2") == ["two.ir.json"]


def test_build_error_is_located_exit_78(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from aiflow_sdk.dsl import pipeline, source\n"
                   "@pipeline(id='p', owner='o')\n"
                   "def p_(p):\n"
                   "    p.read(source.onelake(id='s', table='a.b'))\n"
                   "    p.read(source.onelake(id='s', table='a.c'))\n")
    r = run_python(["-m", "aiflow_sdk", "build", str(bad), "--out", str(tmp_path / "out")])
    assert r.returncode == 78
    assert f"{bad}:5: p/s: duplicate node id 's' (first at line 4)" in r.stderr
    assert not (tmp_path / "out").exists()


def test_build_exception_in_user_code_exit_78(tmp_path):
    bad = tmp_path / "boom.py"
    bad.write_text("from aiflow_sdk.dsl import pipeline\n@pipeline(id='p', owner='o')\ndef p_(p):\n    1/0\n")
    r = run_python(["-m", "aiflow_sdk", "build", str(bad), "--out", str(tmp_path)])
    assert r.returncode == 78 and "ZeroDivisionError" in r.stderr and f'"{bad}", line 4' in r.stderr


@pytest.mark.parametrize("args", [[], ["build"], ["build", "x.py"], ["frobnicate"]])
def test_usage_exit_64(args):
    assert run_python(["-m", "aiflow_sdk", *args]).returncode == 64


def test_no_pipelines_exit_78(tmp_path):
    (tmp_path / "empty.py").write_text("X = 1\n")
    assert run_python(["-m", "aiflow_sdk", "build", str(tmp_path / "empty.py"), "--out", str(tmp_path)]).returncode == 78


@pytest.mark.skipif(not os.environ.get("AIFLOW_TEST_RUNNER"), reason="AIFLOW_TEST_RUNNER (aiflow-runner binary) not set")
def test_runner_plan_agrees(tmp_path):
    """The Go runner reads the built file and prints the YAML version's IR and hash."""
    runner = os.environ["AIFLOW_TEST_RUNNER"]
    r = run_python(["-m", "aiflow_sdk", "build", "examples/user_features/user_features.py", "--out", str(tmp_path)])
    assert r.returncode == 0, r.stderr

    def plan(path):
        p = subprocess.run([runner, "plan", "--json", str(path)], cwd=REPO_ROOT, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    from_py = plan(tmp_path / "daily_user_feature_pipeline.ir.json")
    from_yaml = plan(EXAMPLE_DIR / "pipeline.yaml")
    assert from_py["ir_hash"] == from_yaml["ir_hash"] == EXAMPLE_HASH
    assert from_py["ir"] == from_yaml["ir"]
