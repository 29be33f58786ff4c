"""build_user_features: per-user features from enrich_orders' output (python engine).

Called by ``python -m aiflow_sdk.runtime`` as ``main(inputs, params)``: ``inputs`` maps each
input node id to a ``pyarrow.Table``; the returned table becomes this node's output. The input
has one row per user_id with order_cnt_30d and order_amt_30d (etl_jobs/enrich_orders.py); the
output keeps those, adds the average order amount and a spend bucket, and the run's day as
``dt`` (the column the sink partitions by; an input that already has ``dt`` keeps its own).

params (all optional): ``high_spend`` (default 1000) and ``mid_spend`` (default 100), the
order_amt_30d thresholds of the "high" and "mid" buckets; ``ds``, the day when the run has none.
"""

from typing import Any, Dict

import pyarrow as pa
import pyarrow.compute as pc

from aiflow_sdk.runtime import current_context


def main(inputs: Dict[str, pa.Table], params: Dict[str, Any]) -> pa.Table:
    orders = inputs["enrich_orders"]
    high = float(params.get("high_spend", 1000))
    mid = float(params.get("mid_spend", 100))

    cnt = pc.cast(orders["order_cnt_30d"], pa.float64())
    amt = pc.cast(orders["order_amt_30d"], pa.float64())
    # No orders means no average (null), not a division by zero.
    avg = pc.if_else(pc.greater(cnt, 0), pc.divide(amt, cnt), pa.scalar(None, pa.float64()))
    bucket = pc.if_else(
        pc.greater_equal(amt, high), "high",
        pc.if_else(pc.greater_equal(amt, mid), "mid", "low"),
    )
    if "dt" in orders.column_names:
        dt = orders["dt"]
    else:
        ds = params.get("ds") or current_context().get("ds")
        if not ds:
            raise ValueError("no dt column and no run date (params.ds or the runner's AIFLOW_DS)")
        dt = pa.array([ds] * orders.num_rows, pa.string())

    return pa.table({
        "user_id": orders["user_id"],
        "dt": dt,
        "order_cnt_30d": orders["order_cnt_30d"],
        "order_amt_30d": orders["order_amt_30d"],
        "avg_order_amt_30d": avg,
        "spend_bucket": bucket,
    })
