"""The baseline of bench/spark/run.sh: the same SQL as the aiflow spark node, from a PySpark
Spark Connect client, writing the same Parquet output. Prints one line per run:
``pyspark <session+sql+write ms>``. Usage: pyspark_connect.py REMOTE OUT_DIR RUNS"""
import sys
import time

from pyspark.sql import SparkSession

SQL = ("SELECT user_id, dt, count(*) AS order_cnt_30d, sum(amount) AS order_amt_30d "
       "FROM raw.sales_orders WHERE dt = '2024-01-02' GROUP BY user_id, dt")

remote, out, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(runs):
    t0 = time.perf_counter()
    spark = SparkSession.builder.remote(remote).create()  # a new session, like a pod
    spark.sql(SQL).write.mode("overwrite").parquet(f"file://{out}/run-{i}")
    spark.stop()  # releases the session
    print(f"pyspark {int((time.perf_counter() - t0) * 1000)}", flush=True)
