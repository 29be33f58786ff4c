"""The streaming pipeline of pipeline.yaml in the Python DSL (the same IR, byte for byte):
`python -m aiflow_sdk build --out ir/ examples/flink_streaming/paid_clicks_stream.py`."""

from aiflow_sdk.dsl import pipeline, sink, source


@pipeline(id="paid_clicks_stream", mode="streaming", schedule="*/5 * * * *", owner="team_growth",
          team="growth", env="dev")
def paid_clicks_stream(p):
    clicks = p.read(source.kafka(id="clicks", topic="clicks",
                                 schema={"id": "int64", "user_id": "int64", "amount": "float64", "status": "string"}))
    paid = clicks.transform("paid", engine="flink",
                            sql="SELECT id, user_id, amount FROM clicks WHERE status = 'paid'",
                            checkpoint_interval="5s")
    p.write(paid, sink.kafka(id="paid_clicks", topic="paid_clicks", key_column="user_id"))
