"""Runs the pipeline of bench/engines RUNS times, each round one whole process per contender in
turn (aiflow-runner run --all, Polars, DuckDB, pyarrow), and prints medians of wall time and peak
RSS with the ratios to aiflow. Paired rounds: the load of a shared machine hits every contender.

    compare.py RUNNER SRC_DIR WORK_DIR RUNS [BASELINE_RUNNER]

With BASELINE_RUNNER (another build of aiflow-runner, e.g. main before a change), it runs as one
more contender in every round, so a change is measured against its baseline under the same load.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import pyarrow.parquet as pq

runner, src, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
baseline = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(work, exist_ok=True)

PIPELINE = f"""api_version: aiflow/v1
pipeline: {{id: bench, owner: bench, env: dev}}
nodes:
  - {{id: orders, source: files, with: {{path: "{src}/", format: parquet, columns: [user_id, amount, status]}}}}
  - id: agg
    transform: arrow
    inputs: [orders]
    with:
      steps:
        - filter: "status = 'paid' AND amount > 0"
        - group_by: {{keys: [user_id], aggs: {{n: "count(*)", amt: "sum(amount)", avg_amt: "avg(amount)"}}}}
  - {{id: out, sink: files, inputs: [agg], with: {{path: "{work}/aiflow-out/"}}}}
"""
ir = os.path.join(work, "bench.yaml")
with open(ir, "w") as f:
    f.write(PIPELINE)
ir_base = os.path.join(work, "bench-baseline.yaml")
with open(ir_base, "w") as f:
    f.write(PIPELINE.replace(f"{work}/aiflow-out/", f"{work}/baseline-out/"))


def measure(argv, env=None):
    """Wall seconds, CPU seconds (user + system), peak RSS (MiB) of one whole process; its output
    (the runner logs to stdout)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=work)
    err = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{argv[0]} failed ({p.returncode}):\n{err.decode(errors='replace')[-3000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, err


def groups(path):
    files = [path] if os.path.isfile(path) else [
        os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".parquet")]
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


py = sys.executable
contenders = {
    "aiflow": None,
    **({"baseline": None} if baseline else {}),
    "polars": [py, os.path.join(here, "engine.py"), "polars", src, os.path.join(work, "polars.parquet")],
    "duckdb": [py, os.path.join(here, "engine.py"), "duckdb", src, os.path.join(work, "duckdb.parquet")],
    "pyarrow": [py, os.path.join(here, "engine.py"), "pyarrow", src, os.path.join(work, "pyarrow.parquet")],
}
# SKIP=pyarrow (comma-separated) leaves contenders out: pyarrow's dataset group_by holds ~80 bytes
# per input row (8 GB at 100M rows).
for name in filter(None, os.environ.get("SKIP", "").split(",")):
    contenders.pop(name.strip(), None)
env = dict(os.environ, AIFLOW_LOG_FORMAT="json", AIFLOW_LOG_LEVEL="info", AIFLOW_HOME=os.path.join(work, ".aiflow"))
wall = {k: [] for k in contenders}
cpu = {k: [] for k in contenders}
rss = {k: [] for k in contenders}
node = {k: {"agg": [], "out": []} for k in ("aiflow", "baseline")}
env_base = dict(env, AIFLOW_HOME=os.path.join(work, ".aiflow-baseline"))
shutil.rmtree(os.path.join(work, ".aiflow"), ignore_errors=True)
for i in range(runs):
    for name, argv in contenders.items():
        if name == "aiflow":
            argv = [runner, "run", "--pipeline", "bench", "--all", "--ir", ir, "--run-id", f"bench-{i}"]
        elif name == "baseline":
            argv = [baseline, "run", "--pipeline", "bench", "--all", "--ir", ir_base, "--run-id", f"base-{i}"]
        # The baseline keeps its own metadata database: an older build refuses a newer schema.
        w, u, r, err = measure(argv, env_base if name == "baseline" else env)
        wall[name].append(w)
        cpu[name].append(u)
        rss[name].append(r)
        if name in node:
            for line in err.splitlines():
                if line.startswith(b"{") and b'"node finished"' in line:
                    rec = json.loads(line)
                    if rec["node"] in node[name]:
                        node[name][rec["node"]].append(rec["duration_ms"] / 1000)
    print(f"round {i + 1}/{runs}: " + ", ".join(f"{k} {wall[k][-1]:.2f} s" for k in contenders), file=sys.stderr)

out_groups = {
    "aiflow": groups(os.path.join(work, "aiflow-out")),
    **({"baseline": groups(os.path.join(work, "baseline-out"))} if baseline else {}),
    **{k: groups(os.path.join(work, f"{k}.parquet")) for k in ("polars", "duckdb", "pyarrow") if k in contenders},
}
if len(set(out_groups.values())) != 1:
    sys.exit(f"the contenders disagree on the number of groups: {out_groups}")

med = {k: statistics.median(v) for k, v in wall.items()}
mcpu = {k: statistics.median(v) for k, v in cpu.items()}
mrss = {k: statistics.median(v) for k, v in rss.items()}
print(f"\n{runs} paired rounds, medians; {out_groups['aiflow']:,} groups written by every contender")
print(f"load: {open('/proc/loadavg').read().split()[:3]} on {os.cpu_count()} cores")
print("| command | wall | CPU | peak RSS | aiflow wall / this | aiflow CPU / this | aiflow RSS / this |")
print("|---|---|---|---|---|---|---|")
labels = {
    "aiflow": "`aiflow-runner run --all` (source pin, arrow transform, files sink)",
    "baseline": "the same, baseline build",
    "polars": "Polars (`scan_parquet ... sink_parquet`)",
    "duckdb": "DuckDB (`COPY (SELECT ...) TO ...`, 2 threads)",
    "pyarrow": "pyarrow (dataset, filter, group_by, write)",
}
for k in contenders:
    print(f"| {labels[k]} | {med[k]:.2f} s | {mcpu[k]:.2f} s | {mrss[k]:.0f} MiB | {med['aiflow'] / med[k]:.2f}x "
          f"| {mcpu['aiflow'] / mcpu[k]:.2f}x | {mrss['aiflow'] / mrss[k]:.2f}x |")
agg, out = statistics.median(node["aiflow"]["agg"]), statistics.median(node["aiflow"]["out"])
print(f"\naiflow's transform node (agg): {agg:.2f} s = {agg / med['duckdb']:.2f}x DuckDB's whole process, "
      f"{agg / med['polars']:.2f}x Polars'")
print(f"aiflow's files sink node (out): {out * 1000:.0f} ms")
if baseline:
    bagg, bout = statistics.median(node["baseline"]["agg"]), statistics.median(node["baseline"]["out"])
    print(f"baseline build: transform node {bagg:.2f} s, sink {bout * 1000:.0f} ms; run --all {mcpu['baseline']:.2f} s CPU "
          f"against {mcpu['aiflow']:.2f} s ({mcpu['aiflow'] / mcpu['baseline']:.2f}x), wall {med['aiflow'] / med['baseline']:.2f}x")
print(f"aiflow run --all vs DuckDB: {med['aiflow'] / med['duckdb']:.2f}x wall, {mcpu['aiflow'] / mcpu['duckdb']:.2f}x CPU; "
      f"vs Polars: {med['aiflow'] / med['polars']:.2f}x wall, {mcpu['aiflow'] / mcpu['polars']:.2f}x CPU (goal: at most 1.2x wall); "
      f"peak RSS vs DuckDB {mrss['aiflow'] / mrss['duckdb']:.2f}x, vs Polars {mrss['aiflow'] / mrss['polars']:.2f}x")
print("On a machine shared with other work, wall times are mostly waiting for a core: compare CPU there.")
