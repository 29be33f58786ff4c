"""Writes testdata/deltars_partitioned: a Delta table written by delta-rs (deltalake on PyPI),
partitioned by dt, with several commits, a partition overwrite and a checkpoint followed by one
more commit. Regenerate with: python make_fixture.py (deltalake and pyarrow installed).

Expected content after the last commit (what delta_test.go checks):
  dt=2024-01-01: ids 1, 2        (first append)
  dt=2024-01-02: ids 30, 31, 32  (replaced by the partition overwrite)
  dt=2024-01-03: id 5            (appended after the checkpoint)
"""
import datetime as dt
import shutil

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

PATH = "deltars_partitioned"
shutil.rmtree(PATH, ignore_errors=True)

schema = pa.schema([
    ("id", pa.int64()),
    ("name", pa.string()),
    ("amount", pa.float64()),
    ("day", pa.date32()),
    ("ts", pa.timestamp("us", tz="UTC")),
    ("dt", pa.string()),
])


def batch(ids, day):
    n = len(ids)
    d = dt.date.fromisoformat(day)
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": pa.array([f"n{i}" for i in ids]),
        "amount": pa.array([i * 1.5 for i in ids]),
        "day": pa.array([d] * n, pa.date32()),
        "ts": pa.array([dt.datetime(2024, 1, 1, 12, 0, i % 60, tzinfo=dt.timezone.utc) for i in ids], pa.timestamp("us", tz="UTC")),
        "dt": pa.array([day] * n),
    }, schema=schema)


write_deltalake(PATH, batch([1, 2], "2024-01-01"), partition_by=["dt"], mode="append")
write_deltalake(PATH, batch([3, 4], "2024-01-02"), partition_by=["dt"], mode="append")
write_deltalake(PATH, batch([30, 31, 32], "2024-01-02"), mode="overwrite", predicate="dt = '2024-01-02'")
DeltaTable(PATH).create_checkpoint()
write_deltalake(PATH, batch([5], "2024-01-03"), mode="append")
print(DeltaTable(PATH).version(), DeltaTable(PATH).to_pyarrow_table().num_rows)
