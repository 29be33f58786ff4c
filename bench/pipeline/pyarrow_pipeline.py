"""What a user would otherwise run: pyarrow reading the same Parquet dataset, filtering, grouping
and writing Parquet. Prints wall seconds and peak RSS."""
import resource
import sys
import time

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

src, out = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
table = ds.dataset(src, format="parquet").to_table(columns=["user_id", "amount", "status"])
paid = table.filter(pc.and_(pc.equal(table["status"], "paid"), pc.greater(table["amount"], 0)))
agg = paid.group_by("user_id").aggregate([("user_id", "count"), ("amount", "sum"), ("amount", "mean")])
pq.write_table(agg, out, compression="zstd")
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"pyarrow  rows_in={table.num_rows} groups={agg.num_rows} wall_s={wall:.3f} peak_rss_mb={rss:.0f}")
