# user_repo/pipelines/user_features.py
from aiflow_sdk.dsl import pipeline, source, sink, resources


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
        entrypoint="etl_jobs.enrich_orders:main",
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
