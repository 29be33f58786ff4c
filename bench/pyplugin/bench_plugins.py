"""The Python plugin the benchmark reads: a source kind whose Arrow reader generates N order
rows in batches of 64k (the work a team's reader of an internal service would do), and the same
generator for the plain script."""

import pyarrow as pa
import pyarrow.compute as pc

from aiflow_sdk.plugins import register_arrow_source_reader, register_source


@register_source("bench_orders")
def bench_orders(id, rows, **kwargs):
    return {"id": id, "kind": "bench_orders", "rows": rows}


def batches(rows):
    step = 1 << 16
    for start in range(0, rows, step):
        ids = pa.array(range(start, min(rows, start + step)), pa.int64())
        yield pa.record_batch({"order_id": ids, "user_id": pc.divide(ids, 97),
                               "amount": pc.divide(pc.cast(pc.multiply(ids, 37), pa.float64()), 1000.0)})


@register_arrow_source_reader("bench_orders")
def read_bench_orders(params, context):
    return batches(int(params["rows"]))
