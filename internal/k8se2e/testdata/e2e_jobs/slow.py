"""slow: the end-to-end tests' python node that takes its time, so that a test can delete its
pod while it works. Returns its only input unchanged after ``seconds`` (param, default 20)."""

import sys
import time


def main(inputs, params):
    (table,) = inputs.values()
    # The test waits for this line in the pod's log before it deletes the pod.
    print(f"e2e slow: working on {table.num_rows} rows", file=sys.stderr, flush=True)
    time.sleep(float(params.get("seconds", 20)))
    return table
