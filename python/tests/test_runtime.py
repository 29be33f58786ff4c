"""python -m aiflow_sdk.runtime end to end: Arrow IPC streams in and out, exit codes, error file."""

from __future__ import annotations

import json
import os
import textwrap
import threading
from pathlib import Path
from typing import Dict, Optional

import pytest

pa = pytest.importorskip("pyarrow")
pytest.importorskip("pandas")

from conftest import EXAMPLE_DIR, run_python  # noqa: E402

USER_FNS = '''
import sys
import pyarrow as pa
import pandas as pd


def passthrough(inputs, params):
    t = inputs["src"]
    return t.append_column("tag", pa.array([params.get("tag", "")] * t.num_rows))


def boom(inputs, params):
    raise ValueError("boom: bad row 42")


def as_pandas(inputs, params):
    df = inputs["src"].to_pandas()
    df = df[df["x"] % 2 == 0].copy()
    df["y"] = df["x"] * 10
    return df


def not_a_table(inputs, params):
    return {"x": [1, 2]}


def nothing(inputs, params):
    pass


def big_reader(inputs, params):
    schema = pa.schema([("i", pa.int64())])
    batches = [pa.record_batch([pa.array(range(200_000))], schema=schema)]
    return pa.RecordBatchReader.from_batches(schema, iter(batches))


def failing_reader(inputs, params):
    schema = pa.schema([("i", pa.int64())])

    def gen():
        yield pa.record_batch([pa.array([1, 2])], schema=schema)
        raise RuntimeError("reader broke")

    return pa.RecordBatchReader.from_batches(schema, gen())


def exits(inputs, params):
    sys.exit(7)


def count_inputs(inputs, params):
    return pa.table({"name": sorted(inputs), "rows": [inputs[k].num_rows for k in sorted(inputs)]})


class Jobs:
    @staticmethod
    def run(inputs, params):
        return inputs["src"]


NOT_CALLABLE = 3
'''


def write_stream(path: Path, table, chunk: Optional[int] = None) -> None:
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        for b in table.to_batches(max_chunksize=chunk):
            w.write_batch(b)


def read_stream(path: Path):
    with pa.OSFile(str(path), "rb") as f:
        r = pa.ipc.open_stream(f)
        batches = list(r)
        return pa.Table.from_batches(batches, schema=r.schema), batches


@pytest.fixture
def work(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "userfns.py").write_text(USER_FNS)
    (tmp_path / "code" / "broken_import.py").write_text("raise RuntimeError('module-level failure')\n")
    (tmp_path / "code" / "needs_missing.py").write_text("import not_installed_lib_xyz\n")
    return tmp_path


def run_runtime(work: Path, fn: str, inputs: Dict[str, object], params=None, sys_path=None, output=None):
    paths = {}
    for name, value in inputs.items():
        if isinstance(value, (str, Path)):
            paths[name] = str(value)
        else:
            p = work / f"in_{name}.arrows"
            write_stream(p, value, chunk=1000)
            paths[name] = str(p)
    req = {"fn": fn, "params": params or {}, "inputs": paths,
           "output": str(output or work / "out.arrows"), "error_file": str(work / "error.json"),
           "sys_path": sys_path if sys_path is not None else [str(work / "code")]}
    (work / "req.json").write_text(json.dumps(req))
    return run_python(["-m", "aiflow_sdk.runtime", str(work / "req.json")], cwd=work)


def error_record(work: Path) -> dict:
    return json.loads((work / "error.json").read_text())


SRC = pa.table({"x": list(range(2500)), "s": [f"r{i}" for i in range(2500)]})


def test_example_build_user_features(work):
    orders = pa.table({
        "user_id": [1, 2, 3, 4],
        "dt": ["2024-05-01"] * 4,
        "order_cnt_30d": pa.array([4, 1, 0, 10], pa.int64()),
        "order_amt_30d": [400.0, 50.0, 0.0, 2500.0],
    })
    r = run_runtime(work, "etl_jobs.build_user_features:main", {"enrich_orders": orders},
                    sys_path=[str(EXAMPLE_DIR)])
    assert r.returncode == 0, r.stderr
    out, _ = read_stream(work / "out.arrows")
    assert out.column_names == ["user_id", "dt", "order_cnt_30d", "order_amt_30d", "avg_order_amt_30d", "spend_bucket"]
    assert out["avg_order_amt_30d"].to_pylist() == [100.0, 50.0, None, 250.0]
    assert out["spend_bucket"].to_pylist() == ["mid", "low", "low", "high"]
    assert out["dt"].to_pylist() == ["2024-05-01"] * 4
    assert not (work / "error.json").exists()


def test_table_result_and_params(work):
    r = run_runtime(work, "userfns:passthrough", {"src": SRC}, params={"tag": "t1"})
    assert r.returncode == 0, r.stderr
    out, _ = read_stream(work / "out.arrows")
    assert out.num_rows == 2500 and out["tag"].to_pylist() == ["t1"] * 2500
    assert out.select(["x", "s"]).equals(SRC)


def test_exception_exit_3(work):
    r = run_runtime(work, "userfns:boom", {"src": SRC})
    assert r.returncode == 3
    assert "Traceback (most recent call last)" in r.stderr and "userfns.py" in r.stderr
    rec = error_record(work)
    assert rec["type"] == "ValueError"
    assert rec["last_line"] == "ValueError: boom: bad row 42"
    assert rec["message"] == "boom: bad row 42"
    assert 'in boom' in rec["traceback"] and "runtime.py" not in rec["traceback"]
    assert not (work / "out.arrows").exists()  # never a partial output


def test_pandas_result(work):
    r = run_runtime(work, "userfns:as_pandas", {"src": SRC})
    assert r.returncode == 0, r.stderr
    out, _ = read_stream(work / "out.arrows")
    assert out.column_names == ["x", "s", "y"]  # no pandas index column
    assert out.num_rows == 1250 and out["y"].to_pylist()[:3] == [0, 20, 40]


@pytest.mark.parametrize("fn,what", [("userfns:not_a_table", "builtins.dict"), ("userfns:nothing", "None")])
def test_bad_return_type_exit_4(work, fn, what):
    r = run_runtime(work, fn, {"src": SRC})
    assert r.returncode == 4
    assert f"fn returned {what}" in error_record(work)["message"]
    assert not (work / "out.arrows").exists()


@pytest.mark.parametrize("fn,needle", [
    ("no_such_module_abc:main", "cannot import 'no_such_module_abc'"),
    ("userfns:missing", "has no attribute 'missing'"),
    ("userfns:NOT_CALLABLE", "not callable"),
    ("needs_missing:main", "No module named 'not_installed_lib_xyz'"),
    ("userfns", "module:function"),
])
def test_import_problems_exit_2(work, fn, needle):
    r = run_runtime(work, fn, {"src": SRC})
    assert r.returncode == 2, r.stderr
    assert needle in error_record(work)["message"]
    assert not (work / "out.arrows").exists()


def test_module_level_exception_is_user_error(work):
    r = run_runtime(work, "broken_import:main", {"src": SRC})
    assert r.returncode == 3
    assert error_record(work)["last_line"] == "RuntimeError: module-level failure"


def test_dotted_function(work):
    r = run_runtime(work, "userfns:Jobs.run", {"src": SRC})
    assert r.returncode == 0, r.stderr


def test_reader_result_is_rechunked(work):
    r = run_runtime(work, "userfns:big_reader", {})
    assert r.returncode == 0, r.stderr
    out, batches = read_stream(work / "out.arrows")
    assert out.num_rows == 200_000
    assert max(b.num_rows for b in batches) <= 65536 and len(batches) == 4


def test_reader_failing_midway_exit_3(work):
    r = run_runtime(work, "userfns:failing_reader", {})
    assert r.returncode == 3
    assert "reader broke" in error_record(work)["last_line"]
    assert not (work / "out.arrows").exists()  # the partial file is removed


def test_sys_exit_in_fn_is_user_error(work):
    r = run_runtime(work, "userfns:exits", {})
    assert r.returncode == 3 and error_record(work)["type"] == "SystemExit"


def test_several_inputs_and_empty_table(work):
    empty = pa.table({"x": pa.array([], pa.int64())})
    r = run_runtime(work, "userfns:count_inputs", {"b": SRC, "a": empty})
    assert r.returncode == 0, r.stderr
    out, _ = read_stream(work / "out.arrows")
    assert out.to_pydict() == {"name": ["a", "b"], "rows": [0, 2500]}


def test_bad_request_exit_2(work):
    (work / "req.json").write_text('{"fn": 3}')
    r = run_python(["-m", "aiflow_sdk.runtime", str(work / "req.json")], cwd=work)
    assert r.returncode == 2 and "fn must be" in r.stderr
    assert run_python(["-m", "aiflow_sdk.runtime"], cwd=work).returncode == 2
    assert run_python(["-m", "aiflow_sdk.runtime", str(work / "nope.json")], cwd=work).returncode == 2


def test_unreadable_input_exit_2(work):
    (work / "garbage.arrows").write_bytes(b"not arrow at all")
    r = run_runtime(work, "userfns:passthrough", {"src": work / "garbage.arrows"})
    assert r.returncode == 2 and "cannot read input 'src'" in error_record(work)["message"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifos_in_and_out(work):
    """Inputs and output may be FIFOs: the runner streams, nothing is one giant buffer."""
    fin, fout = work / "in.fifo", work / "out.fifo"
    os.mkfifo(fin)
    os.mkfifo(fout)
    got = {}

    # Python's open() releases the GIL while a FIFO open blocks; pa.OSFile would not.
    def feed():
        with open(fin, "wb") as f, pa.ipc.new_stream(f, SRC.schema) as w:
            for b in SRC.to_batches(max_chunksize=100):
                w.write_batch(b)

    def drain():
        with open(fout, "rb") as f:
            got["table"] = pa.ipc.open_stream(f).read_all()

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain, daemon=True)]
    for t in threads:
        t.start()
    r = run_runtime(work, "userfns:passthrough", {"src": fin}, output=fout)
    for t in threads:
        t.join(timeout=30)
    assert r.returncode == 0, r.stderr
    assert got["table"].num_rows == 2500


def test_runtime_module_is_not_imported_by_the_package():
    import subprocess
    import sys

    from conftest import sdk_env

    code = textwrap.dedent("""
        import sys, aiflow_sdk, aiflow_sdk.dsl
        sys.exit(1 if "aiflow_sdk.runtime" in sys.modules or "pyarrow" in sys.modules else 0)
    """)
    assert subprocess.run([sys.executable, "-c", code], env=sdk_env()).returncode == 0
