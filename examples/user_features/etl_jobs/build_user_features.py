"""build_user_features: per-user features from enrich_orders' output (python engine).

Called by ``python -m aiflow_sdk.runtime`` as ``main(inputs, params)``: ``inputs`` maps each
input node id to a ``pyarrow.Table``; the returned table becomes this node's output. The input
has one row per (user_id, dt) with order_cnt_30d and order_amt_30d; the output keeps those and
adds the average order amount and a spend bucket, and keeps ``dt``, which the sink partitions by.

params (all optional): ``high_spend`` (default 1000) and ``mid_spend`` (default 100), the
order_amt_30d thresholds of the "high" and "mid" buckets.
"""

from typing import Any, Dict

import pyarrow as pa
import pyarrow.compute as pc


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

    return pa.table({
        "user_id": orders["user_id"],
        "dt": orders["dt"],
        "order_cnt_30d": orders["order_cnt_30d"],
        "order_amt_30d": orders["order_amt_30d"],
        "avg_order_amt_30d": avg,
        "spend_bucket": bucket,
    })
