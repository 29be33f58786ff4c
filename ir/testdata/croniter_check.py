"""What Airflow makes of schedules: for each expression on stdin (a JSON list), whether Airflow's
DAG accepts it (its timetable's validate(), which asks croniter) and, when it does, the next three
and the previous run time from a fixed instant, in UTC.

    python croniter_check.py < expressions.json > verdicts.json

Compared with ir.ParseSchedule by ir/schedule_test.go (TestScheduleAgreesWithAirflow).
"""

import datetime as dt
import json
import sys

from airflow.sdk import DAG
from croniter import croniter

START = dt.datetime(2026, 3, 14, 15, 9, tzinfo=dt.timezone.utc)


def verdict(expr):
    try:
        # @continuous needs max_active_runs=1, which the compiler sets for it.
        dag = DAG(dag_id="x", schedule=expr, start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
                  max_active_runs=1 if expr == "@continuous" else 16)
        dag.timetable.validate()
    except Exception as e:  # Airflow raises several classes; any refusal counts
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    out = {"ok": True, "timetable": type(dag.timetable).__name__}
    cron = getattr(dag.timetable, "_expression", None)
    if cron:
        try:
            it = croniter(cron, START)
            out["next"] = [it.get_next(dt.datetime).strftime("%Y-%m-%dT%H:%M") for _ in range(3)]
            out["prev"] = croniter(cron, START).get_prev(dt.datetime).strftime("%Y-%m-%dT%H:%M")
        except Exception as e:  # accepted, but the scheduler would fail to find a run
            return {"ok": False, "error": f"never fires: {type(e).__name__}: {e}"}
    return out


json.dump({e: verdict(e) for e in json.load(sys.stdin)}, sys.stdout, indent=1, sort_keys=True)
