"""The seed's daily_user_feature_pipeline (seed §4.3) in aiflow's Python DSL.

It is the same pipeline as pipeline.yaml and gives the same canonical IR and ir_hash
(pipeline.ir.json). As in the YAML, the seed's PySpark entrypoint etl_jobs.enrich_orders:main
becomes Spark SQL over the input, registered as a temp view named by its node id, and
build_user_features runs etl_jobs/build_user_features.py on the python engine.

    python -m aiflow_sdk build examples/user_features/user_features.py --out build/ir
"""

from aiflow_sdk.dsl import pipeline, resources, sink, source


@pipeline(
    id="daily_user_feature_pipeline",
    schedule="0 3 * * *",
    owner="team_feature",
    team="feature-platform",
    env="prod",
    project="feature-store",
)
def daily_user_feature(p):
    raw_orders = p.read(
        source.onelake(
            id="orders_onelake",
            table="raw.sales_orders",
            format="delta",
            partitions={"dt": "{{ ds }}"},
        )
    )

    enriched_orders = raw_orders.transform(
        id="enrich_orders",
        engine="spark",
        sql=(
            "SELECT user_id, dt, count(*) AS order_cnt_30d, sum(amount) AS order_amt_30d "
            "FROM orders_onelake GROUP BY user_id, dt"
        ),
        resources=resources.spark(
            cluster="emr-feature-prod",
            driver_memory="4g",
            executor_memory="8g",
            executor_cores=4,
        ),
        output_table="tmp.enriched_orders_daily",
    )

    user_features = enriched_orders.transform(
        id="build_user_features",
        engine="python",
        fn="etl_jobs.build_user_features:main",
        resources=resources.python(),
    )

    p.write(
        user_features,
        sink.onelake(
            id="user_features_onelake",
            table="feature_store.user_features_daily",
            mode="overwrite",
            partition_by=["dt"],
        ),
    )
