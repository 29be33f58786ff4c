"""The baseline of bench/pyspark/run.sh: the seed's etl_jobs.enrich_orders:main called from a plain
PySpark Spark Connect client script, as a team would run it without aiflow: connect, read the
partition, call main(spark, inputs, params), let Spark write the result as Parquet, stop.

    plain_client.py REMOTE OUT_DIR          # prints "plain-process-inner <ms>" (after imports)
"""
import sys
import time

t0 = time.perf_counter()
from pyspark.sql import SparkSession  # noqa: E402

from etl_jobs.enrich_orders import main  # noqa: E402

remote, out = sys.argv[1], sys.argv[2]
t1 = time.perf_counter()
spark = SparkSession.builder.remote(remote).create()  # a new session, like a pod
orders = spark.table("raw.sales_orders").where("dt = '2024-01-02'")
result = main(spark=spark, inputs={"orders_onelake": orders}, params={})
result.write.mode("overwrite").parquet(f"file://{out}")
spark.stop()
print(f"imports {int((t1 - t0) * 1000)} work {int((time.perf_counter() - t1) * 1000)}", file=sys.stderr)
