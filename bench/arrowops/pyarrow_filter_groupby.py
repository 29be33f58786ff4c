"""pyarrow baseline for internal/arrowops BenchmarkFilterGroupBy.

Same data shape as the Go benchmark: 10M rows in 64k-row batches, user_id int64 uniform over
1M ids, amount float64 uniform in [0, 1000), status one of 4 strings. Measures
Table.filter(status == 'paid') + Table.group_by('user_id').aggregate([count, sum(amount)]),
reporting wall time and process CPU time (user+system) per run, best and median.

    /tmp/pa-venv/bin/python bench/arrowops/pyarrow_filter_groupby.py [--runs 5]
"""

import argparse
import os
import resource
import statistics
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROWS = 10_000_000
BATCH = 64 << 10
USERS = 1_000_000


def make_table():
    rng = np.random.default_rng(1)
    statuses = pa.array(["paid", "open", "refunded", "cancelled"])
    batches = []
    for start in range(0, ROWS, BATCH):
        n = min(BATCH, ROWS - start)
        batches.append(pa.record_batch({
            "user_id": pa.array(rng.integers(0, USERS, n, dtype=np.int64)),
            "amount": pa.array(rng.random(n) * 1000),
            "status": statuses.take(pa.array(rng.integers(0, 4, n))),
        }))
    return pa.Table.from_batches(batches)


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(table):
    paid = table.filter(pc.field("status") == "paid")
    return paid.group_by("user_id").aggregate([([], "count_all"), ("amount", "sum")])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    table = make_table()
    print(f"pyarrow {pa.__version__}, {pa.cpu_count()} threads, {os.cpu_count()} cpus, "
          f"{table.num_rows} rows in {len(table.to_batches())} batches")
    run(table)  # warm-up
    walls, cpus = [], []
    for _ in range(args.runs):
        c0, t0 = cpu(), time.perf_counter()
        out = run(table)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu() - c0)
    print(f"groups: {out.num_rows}")
    for name, xs in (("wall", walls), ("cpu", cpus)):
        print(f"{name}: best {min(xs)*1e3:.0f} ms, median {statistics.median(xs)*1e3:.0f} ms "
              f"({ROWS/min(xs)/1e6:.1f} M rows/s at best)")


if __name__ == "__main__":
    main()
