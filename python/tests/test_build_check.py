"""python -m aiflow_sdk build checks the pipelines with the runner and reports every problem at
the user's .py line (aiflow_sdk.check): the misspellings a DSL author makes exit 78 before any
IR is used, each named at its line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO_ROOT, sdk_env

RUNNER = os.environ.get("AIFLOW_TEST_RUNNER", "")
if not RUNNER and os.environ.get("CI") == "true":
    raise RuntimeError("AIFLOW_TEST_RUNNER (the aiflow-runner binary) is not set under CI")
needs_runner = pytest.mark.skipif(not RUNNER, reason="AIFLOW_TEST_RUNNER (aiflow-runner binary) not set")

BAD = textwrap.dedent('''\
    from aiflow_sdk.dsl import pipeline, source, sink


    @pipeline(id="typos", schedule="0 25 * * *", owner="you",
              team="demo", env="devv", project="x")
    def typos(p):
        orders = p.read(source.files(id="orders", path="data/orders/", fromat="parquet"))
        paid = orders.transform(id="paid", engine="arow")
        p.write(paid, sink.files(id="out", path="out/"))


    @pipeline(id="bad_step", owner="you", team="demo", env="dev", project="x")
    def bad_step(p):
        orders = p.read(source.files(id="orders", path="data/orders/"))
        paid = orders.transform(id="paid", engine="arrow",
                                steps=[{"filtr": "status = 'paid'"}])
        p.write(paid, sink.files(id="out", path="out/"))
    ''')


def build(tmp_path, runner):
    src = tmp_path / "mypipes.py"
    src.write_text(BAD)
    env = sdk_env()
    env.pop("AIFLOW_RUNNER", None)
    if runner:
        env["AIFLOW_RUNNER"] = runner
    else:
        env["PATH"] = os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep)
                                      if not os.path.exists(os.path.join(d, "aiflow-runner")))
    return subprocess.run([sys.executable, "-m", "aiflow_sdk", "build", str(src), "--out", str(tmp_path / "ir")],
                          cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=120)


@needs_runner
def test_build_reports_problems_at_py_lines(tmp_path):
    r = build(tmp_path, RUNNER)
    assert r.returncode == 78, r.stderr
    src = str(tmp_path / "mypipes.py")
    for want in [
        f'{src}:4: typos: schedule "0 25 * * *" is not a valid 5-field cron expression',
        f'{src}:4: typos: env "devv" is not one of dev, staging, prod (did you mean "dev"?)',
        f'{src}:7: typos/orders: unknown field "fromat" (did you mean "format"?)',
        f'{src}:8: typos/paid: unknown engine "arow" (did you mean "arrow"?)',
        f'{src}:15: bad_step/paid: step 1: unknown operation "filtr"',
    ]:
        assert want in r.stderr, r.stderr
    assert "filtr" in r.stderr
    assert r.stdout == ""  # no IR file is announced as built


def test_build_without_runner_says_it_did_not_validate(tmp_path):
    r = build(tmp_path, "")
    assert r.returncode == 0, r.stderr
    assert "not validated" in r.stderr and "aiflow-runner validate" in r.stderr


def test_build_warns_when_the_runner_is_another_release(tmp_path):
    fake = tmp_path / "fake-runner"
    fake.write_text('#!/bin/sh\nif [ "$1" = version ]; then echo \'{"version":"9.9.0"}\'; fi\nexit 0\n')
    fake.chmod(0o755)
    (tmp_path / "ok.py").write_text(textwrap.dedent('''\
        from aiflow_sdk.dsl import pipeline, source, sink

        @pipeline(id="ok", owner="you", team="demo", env="dev", project="x")
        def ok(p):
            p.write(p.read(source.files(id="orders", path="data/")), sink.files(id="out", path="out/"))
        '''))
    env = sdk_env()
    env["AIFLOW_RUNNER"] = str(fake)
    r = subprocess.run([sys.executable, "-m", "aiflow_sdk", "build", str(tmp_path / "ok.py"), "--out", str(tmp_path / "ir")],
                       cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    from aiflow_sdk import __version__
    assert f"aiflow_sdk {__version__} and {fake} 9.9.0 are different releases" in r.stderr, r.stderr


@needs_runner
def test_build_no_warning_with_this_checkouts_runner(tmp_path):
    r = build(tmp_path, RUNNER)
    assert "different releases" not in r.stderr, r.stderr


# One mistake a line: (the line as written, what the message must say). Each is built alone and
# must fail at that line of the .py file (line 8 of TEMPLATE), exit 78, writing no IR.
TEMPLATE = '''\
from aiflow_sdk.dsl import pipeline, resources, source, sink


@pipeline(id="one", owner="you", team="demo", env="dev", project="x", schedule="@daily")
def one(p):
    orders = p.read(source.files(id="orders", path="data/orders/", format="parquet"))
    out = orders.transform(id="t", engine="arrow", steps=[{"filter": "amount > 0"}])
    {line}
    p.write(out, sink.files(id="out", path="out/"))
'''

MISTAKES = [
    ('x = p.read(source.fles(id="x", path="d/"))', 'did you mean source.files?'),
    ('x = p.read(source.files(id="x", path="d/", fromat="csv"))', 'unknown field "fromat" (did you mean "format"?)'),
    ('x = p.read(source.files(id="x", path="d/", format="parqet"))', '(did you mean "parquet"?)'),
    ('x = p.read(source.onelake(id="x", tabel="raw.orders"))', "missing a required argument: 'table' (did you mean 'table' for 'tabel'?)"),
    ('x = out.transform(id="x", engine="arow", steps=[{"limit": 1}])', 'unknown engine "arow" (did you mean "arrow"?)'),
    ('x = out.transform(id="x", engine="arrow", steps=[{"filtr": "a > 1"}])', 'unknown operation "filtr" (did you mean "filter"?)'),
    ('x = out.transform(id="x", engine="arrow", steps=[{"filter": "status == \'ok\'"}])', "did you mean '='?"),
    ('x = out.transform(id="x", engine="arrow", steps=[{"filter": "(amount > 1"}])', "expected ')'"),
    ('x = out.transform(id="x", engine="arrow", steps=[{"group_by": {"keys": ["u"], "aggs": {"s": "summ(amount)"}}}])',
     'unknown aggregate summ (did you mean "sum"?)'),
    ('x = out.transform(id="x", engine="arrow", steps=[{"derive": {"n": "lenght(name)"}}])', '(did you mean "length"?)'),
    ('x = out.transform(id="x", engine="spark", sql="select 1", resources=resources.spark(drivr_memory="1g"))',
     '(did you mean "driver_memory"?)'),
    ('x = out.transform(id="x", engine="arrow", resources=resources.sprak())', 'did you mean resources.spark?'),
    ('p.write(out, sink.files(id="x", path="o/", mode="overwirte"))', '(did you mean "overwrite"?)'),
    ('p.write(out, sink.onelake(id="x", table="a.b", partiton_by=["dt"]))', '(did you mean "partition_by"?)'),
    ('p.write(out, sink.fils(id="x", path="o/"))', 'did you mean sink.files?'),
]


@needs_runner
@pytest.mark.parametrize("line,want", MISTAKES, ids=[m[0][:40] for m in MISTAKES])
def test_build_reports_each_mistake_at_its_line(tmp_path, line, want):
    src = tmp_path / "one.py"
    src.write_text(TEMPLATE.replace("{line}", line))
    env = sdk_env()
    env["AIFLOW_RUNNER"] = RUNNER
    r = subprocess.run([sys.executable, "-m", "aiflow_sdk", "build", str(src), "--out", str(tmp_path / "ir")],
                       cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 78, r.stderr
    assert f"{src}:8: " in r.stderr and want in r.stderr, r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("kwargs,want", [
    ({"env": "devv"}, 'env "devv" is not one of dev, staging, prod (did you mean "dev"?)'),
    ({"schedule": "0 25 * * *"}, 'hour "25": 25 is out of range 0-23'),
    ({"schedule": "@dayly"}, '(did you mean "@daily"?)'),
])
@needs_runner
def test_build_reports_pipeline_mistakes_at_the_decorator(tmp_path, kwargs, want):
    src = tmp_path / "one.py"
    args = {"id": "one", "owner": "you", "team": "demo", "env": "dev", "project": "x", "schedule": "@daily", **kwargs}
    decl = ", ".join(f"{k}={v!r}" for k, v in args.items())
    src.write_text(TEMPLATE.replace("{line}", "pass").replace(
        '@pipeline(id="one", owner="you", team="demo", env="dev", project="x", schedule="@daily")', f"@pipeline({decl})"))
    env = sdk_env()
    env["AIFLOW_RUNNER"] = RUNNER
    r = subprocess.run([sys.executable, "-m", "aiflow_sdk", "build", str(src), "--out", str(tmp_path / "ir")],
                       cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 78, r.stderr
    assert f"{src}:4: " in r.stderr and want in r.stderr, r.stderr
