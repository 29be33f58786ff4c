"""delta-rs and Polars writing and reading the same Delta table as bench/delta/run.sh's aiflow run.

  others.py PARQUET_DIR AIFLOW_TABLE OUT_DIR

Writes PARQUET_DIR as a Delta table partitioned by dt with delta-rs and with Polars (the Parquet
read is timed apart: aiflow's write timing includes its read), then reads AIFLOW_TABLE with each
and counts rows per dt. Peak RSS is of this whole process (ru_maxrss), so it is an upper bound.
"""
import resource
import sys
import time

import polars as pl
import pyarrow.dataset as pads
from deltalake import DeltaTable, write_deltalake


def rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def timed(label, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{label} wall_s={time.perf_counter() - t:.2f} peak_rss_kb={rss_kb()}", flush=True)
    return out


def main():
    src, aiflow_table, out = sys.argv[1:4]
    table = timed("delta-rs read parquet", lambda: pads.dataset(src, format="parquet").to_table())
    timed("delta-rs write       ", lambda: write_deltalake(out + "/deltars", table, partition_by=["dt"], mode="overwrite"))
    del table
    df = timed("polars   read parquet", lambda: pl.read_parquet(src + "/*.parquet"))
    timed("polars   write       ", lambda: df.write_delta(out + "/polars", mode="overwrite", delta_write_options={"partition_by": ["dt"]}))
    del df

    def deltars_read():
        t = DeltaTable(aiflow_table).to_pyarrow_table(columns=["dt", "amount"])
        return t.group_by("dt").aggregate([("dt", "count"), ("amount", "sum")]).num_rows

    def polars_read():
        return pl.read_delta(aiflow_table).group_by("dt").agg(pl.len(), pl.col("amount").sum()).height

    n1 = timed("delta-rs read (aiflow's table)", deltars_read)
    n2 = timed("polars   read (aiflow's table)", polars_read)
    assert n1 == n2 == 7, (n1, n2)
    rows = pads.dataset(src, format="parquet").count_rows()
    assert DeltaTable(aiflow_table).to_pyarrow_dataset().count_rows() == rows, "aiflow's table lacks rows"


if __name__ == "__main__":
    main()
