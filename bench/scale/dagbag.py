"""Airflow's parse cost of many generated DAG files, against dag-factory on the same pipelines.

    dagbag.py GENERATED_DIR SAMPLE_DIR N [N_DAGFACTORY]

Copies the first N generated DAG files of GENERATED_DIR into SAMPLE_DIR/aiflow, converts the
first N_DAGFACTORY of them (default N; dag-factory parses 1.4 s a file under load, so 500 of
them alone take 11 minutes) to the equivalent dag-factory YAML (bench/compiler/parse_bench.to_dagfactory: same tasks, operator,
image, arguments, env, resources, assets) in SAMPLE_DIR/dagfactory, then times one DagBag over each
folder in a fresh interpreter with airflow already imported (what the DAG processor's parent has).
Prints per-file cost and the extrapolation to 10,000 files.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "compiler"))
from parse_bench import to_dagfactory  # noqa: E402

TIMER = r"""
import sys, time, json, logging, warnings
logging.disable(logging.CRITICAL); warnings.simplefilter("ignore")
import airflow, airflow.sdk
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
t0 = time.perf_counter()
bag = DagBag(sys.argv[1], include_examples=False, safe_mode=False)
dt = time.perf_counter() - t0
assert not bag.import_errors, list(bag.import_errors.items())[:2]
print("RESULT " + json.dumps({"seconds": dt, "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values())}))
"""


def timed(folder):
    out = subprocess.run([sys.executable, "-c", TIMER, folder], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"DagBag {folder} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")


def main():
    src, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    n_df = int(sys.argv[4]) if len(sys.argv) > 4 else n
    files = sorted(f for f in os.listdir(src) if f.endswith(".py"))[:n]
    a, d = os.path.join(work, "aiflow"), os.path.join(work, "dagfactory")
    for p in (a, d):
        shutil.rmtree(p, ignore_errors=True)
        os.makedirs(p)
    for i, f in enumerate(files):
        shutil.copy(os.path.join(src, f), a)
        if i < n_df:
            to_dagfactory(os.path.join(a, f), d)
    res = {"aiflow": timed(a), "dagfactory": timed(d)}
    for k, r in res.items():
        per = r["seconds"] / r["dags"]
        print(f"{k:10s} DagBag of {r['dags']} files ({r['tasks']} tasks): {r['seconds']:.1f} s, "
              f"{1000 * per:.1f} ms per file, 10,000 files: {per * 10000 / 60:.1f} min of one parsing process")
    per = {k: r["seconds"] / r["dags"] for k, r in res.items()}
    print(f"ratio dag-factory / aiflow, per file: {per['dagfactory'] / per['aiflow']:.2f}")


if __name__ == "__main__":
    main()
