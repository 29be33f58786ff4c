"""What a user would otherwise run for the pipeline of bench/engines: one engine reads the orders
Parquet folder, keeps status = 'paid' AND amount > 0, groups by user_id (count, sum, avg of
amount) and writes zstd Parquet. One whole process per run, like aiflow-runner's.

    engine.py polars|duckdb|pyarrow SRC_DIR OUT_FILE
"""
import sys

engine, src, out = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]

if engine == "polars":
    import polars as pl

    (
        pl.scan_parquet(f"{src}/*.parquet")
        .select("user_id", "amount", "status")
        .filter((pl.col("status") == "paid") & (pl.col("amount") > 0))
        .group_by("user_id")
        .agg(n=pl.len(), amt=pl.col("amount").sum(), avg_amt=pl.col("amount").mean())
        .sink_parquet(out, compression="zstd")
    )
elif engine == "duckdb":
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(
        f"""COPY (SELECT user_id, count(*) AS n, sum(amount) AS amt, avg(amount) AS avg_amt
                 FROM read_parquet('{src}/*.parquet')
                 WHERE status = 'paid' AND amount > 0
                 GROUP BY user_id)
            TO '{out}' (FORMAT parquet, COMPRESSION zstd)"""
    )
elif engine == "pyarrow":
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    table = ds.dataset(src, format="parquet").to_table(columns=["user_id", "amount", "status"])
    paid = table.filter(pc.and_(pc.equal(table["status"], "paid"), pc.greater(table["amount"], 0)))
    agg = paid.group_by("user_id").aggregate([("user_id", "count"), ("amount", "sum"), ("amount", "mean")])
    pq.write_table(agg, out, compression="zstd")
else:
    sys.exit(f"unknown engine {engine!r} (polars, duckdb, pyarrow)")
