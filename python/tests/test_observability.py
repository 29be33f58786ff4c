"""aiflow_sdk.observability: the JSON lines the runner takes into a node's logs and metrics."""

import json

import pytest

from aiflow_sdk import observability as obs


def lines(capsys):
    return [json.loads(x) for x in capsys.readouterr().out.splitlines()]


def test_structured_log(capsys):
    obs.structured_log("warning", "orders_seen", rows=3, stage="feat")
    (rec,) = lines(capsys)
    assert rec == {"aiflow_record": "log", "level": "warn", "msg": "orders_seen", "fields": {"rows": 3, "stage": "feat"}}
    with pytest.raises(ValueError):
        obs.structured_log("loud", "x")


def test_metrics_and_track_duration(capsys):
    m = obs.MetricsClient()
    m.incr("orders_seen", 5, channel="web")
    m.observe("batch_seconds", 0.25)
    with pytest.raises(ValueError):
        m.incr("orders_seen", -1)
    with pytest.raises(RuntimeError):
        with obs.track_duration("feat_seconds", stage="x"):
            raise RuntimeError("still observed")
    recs = lines(capsys)
    assert recs[0] == {"aiflow_record": "metric", "kind": "counter", "name": "orders_seen", "value": 5.0, "labels": {"channel": "web"}}
    assert recs[1]["kind"] == "observe" and recs[1]["value"] == 0.25
    assert recs[2]["name"] == "feat_seconds" and recs[2]["labels"] == {"stage": "x"} and recs[2]["value"] >= 0
    assert m.samples[0] == ("counter", "orders_seen", 5.0, {"channel": "web"})
