# my_team_plugins.py
from typing import Dict, Any
from pyspark.sql import SparkSession, DataFrame
from aiflow_sdk.plugins import register_source, register_spark_source_reader


@register_source("internal_kafka")
def internal_kafka_source(
    id: str,
    topic: str,
    bootstrap_servers: str,
    starting_offsets: str = "latest",
    **kwargs,
) -> Dict[str, Any]:
    return {
        "id": id,
        "kind": "internal_kafka",
        "topic": topic,
        "bootstrap_servers": bootstrap_servers,
        "starting_offsets": starting_offsets,
        "extra": kwargs,
    }


@register_spark_source_reader("internal_kafka")
def read_internal_kafka(
    spark: SparkSession,
    params: Dict[str, Any],
    context: Dict[str, Any],
) -> DataFrame:
    topic = params["topic"]
    bootstrap = params["bootstrap_servers"]
    starting_offsets = params.get("starting_offsets", "latest")

    df = (
        spark.read
        .format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets)
        .load()
    )
    return df
