#!/usr/bin/env python3
"""Generate N pipeline specs of M nodes each for the scale benchmarks (bench/scale/README.md).

Varied on purpose: every source kind (files, onelake, kafka), every transform engine (arrow,
spark SQL, python), every sink kind (files, onelake, kafka, feature_store), fan-out and fan-in,
four schedules, 40 teams x 3 envs x 25 projects x 12 cost centers. Deterministic for a given seed,
so two runs compile the same tree. Standard library only.

usage: gen_specs.py OUT_DIR [--pipelines 10000] [--nodes 20] [--seed 1]
"""
import argparse
import os
import random

SCHEDULES = ["0 * * * *", "0 3 * * *", "@hourly", "*/15 * * * *"]


def source(rng, i, p):
    kind = ("files", "onelake", "kafka")[i % 3]
    if kind == "files":
        w = f'{{path: "s3://lake/raw/p{p}/src{i}/dt={{{{ ds }}}}/", format: parquet}}'
    elif kind == "onelake":
        w = f'{{table: raw.p{p}_src{i}, format: delta, partitions: {{dt: "{{{{ ds }}}}"}}}}'
    else:
        w = f"{{topic: events_p{p}_{i}, schema: {{user_id: int64, amount: float64, status: string}}}}"
    return f"  - id: src_{i}\n    source: {kind}\n    with: {w}\n"


def transform(rng, i, inputs, engine):
    ins = ", ".join(inputs)
    if engine == "arrow":
        w = f'{{steps: [{{filter: "amount > {i}"}}, {{derive: {{amount2: "amount * 2"}}}}]}}'
    elif engine == "spark":
        w = f"{{sql: \"SELECT * FROM {inputs[0]} WHERE amount > {i}\"}}"
    else:
        w = f"{{fn: \"jobs.step_{i}:main\"}}"
    res = ""
    if rng.random() < 0.3:
        res = f'    resources: {{cpu: "{rng.choice(["500m", "1", "2"])}", memory: {rng.choice(["512Mi", "2Gi", "4g"])}}}\n'
    return f"  - id: t_{i}\n    transform: {engine}\n    inputs: [{ins}]\n    with: {w}\n{res}"


def sink(rng, i, inp, p, kind):
    if kind == "files":
        w = f'{{path: "s3://lake/out/p{p}/s{i}/", format: parquet, mode: overwrite}}'
    elif kind == "onelake":
        w = f"{{table: mart.p{p}_s{i}, mode: append}}"
    elif kind == "kafka":
        w = f"{{topic: out_p{p}_{i}}}"
    else:
        w = f'{{feature_group: fg_p{p}_{i}, entity_keys: [user_id], create: true, dsn: "${{AIFLOW_FEATURE_STORE_DSN}}"}}'
    return f"  - id: sink_{i}\n    sink: {kind}\n    inputs: [{inp}]\n    with: {w}\n"


def pipeline(rng, p, nodes):
    team = f"team-{p % 40:02d}"
    head = (
        "api_version: aiflow/v1\npipeline:\n"
        f"  id: scale_p{p:05d}\n"
        f'  schedule: "{SCHEDULES[p % len(SCHEDULES)]}"\n'
        f"  owner: {team}-owner\n"
        f"  team: {team}\n"
        f"  env: {('prod', 'staging', 'dev')[p % 3]}\n"
        f"  project: project-{p % 25:02d}\n"
        f"  cost_center: cc-{p % 12:02d}\n"
        "nodes:\n"
    )
    n_src, n_sink = 2, 2
    n_tr = max(1, nodes - n_src - n_sink)
    # One engine per pipeline for its transforms: a node's inputs must be readable by its engine,
    # and the arrow engine reads every source kind generated here.
    engine = ("arrow", "arrow", "spark", "python")[p % 4]
    body = []
    srcs = [f"src_{i}" for i in range(n_src)]
    for i in range(n_src):
        src = source(rng, i, p)
        if engine == "spark" and "kafka" in src:
            src = src.replace("source: kafka", "source: files").replace(
                src[src.index("with:"):], f'with: {{path: "s3://lake/raw/p{p}/k{i}/", format: parquet}}\n')
        body.append(src)
    prev = []
    for i in range(n_tr):
        if i == 0:
            ins = srcs
        elif i % 5 == 0 and len(prev) >= 2 and engine != "spark":
            ins = prev[-2:]  # fan-in
        else:
            ins = [prev[-1] if i % 3 else prev[max(0, len(prev) - 2)]]  # chains and fan-out
        body.append(transform(rng, i, ins, engine))
        prev.append(f"t_{i}")
    kinds = ("files", "onelake", "kafka", "feature_store")
    for i in range(n_sink):
        k = kinds[(p + i) % 4]
        if engine == "spark" and k in ("kafka", "feature_store"):
            k = "onelake"
        body.append(sink(rng, i, prev[-1 - i % len(prev)], p, k))
    return head + "".join(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--pipelines", type=int, default=10000)
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    for p in range(a.pipelines):
        d = os.path.join(a.out, f"team-{p % 40:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"scale_p{p:05d}.yaml"), "w") as f:
            f.write(pipeline(rng, p, a.nodes))


if __name__ == "__main__":
    main()
