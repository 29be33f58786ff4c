"""What a user would otherwise run: the same reader's batches, the same group-by, Parquet out."""
import sys

import pyarrow as pa
import pyarrow.parquet as pq

import bench_plugins

rows, out = int(sys.argv[1]), sys.argv[2]
t = pa.Table.from_batches(list(bench_plugins.batches(rows)))
g = t.group_by("user_id").aggregate([("amount", "sum"), ("order_id", "count")])
pq.write_table(g, out)
