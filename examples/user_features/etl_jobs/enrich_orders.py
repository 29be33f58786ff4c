# user_repo/etl_jobs/enrich_orders.py
from typing import Dict
from pyspark.sql import SparkSession, DataFrame
from pyspark.sql import functions as F


def main(
    spark: SparkSession,
    inputs: Dict[str, DataFrame],
    params: Dict,
) -> DataFrame:
    orders_df = inputs["orders_onelake"]

    result_df = (
        orders_df
        .groupBy("user_id")
        .agg(
            F.count("*").alias("order_cnt_30d"),
            F.sum("amount").alias("order_amt_30d"),
        )
    )

    return result_df
