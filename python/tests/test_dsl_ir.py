"""DSL -> IR: the seed's example gives the YAML version's IR byte for byte, and the mapping rules."""

from __future__ import annotations

import json

import pytest

from aiflow_sdk.canonical import canonical_json, hash_bytes
from aiflow_sdk.discovery import load_target
from aiflow_sdk.dsl import pipeline, resources, sink, source
from aiflow_sdk.plugins import register_engine, register_sink, register_source, register_spark_source_reader

from conftest import EXAMPLE_DIR

# What `aiflow-runner plan --json examples/user_features/pipeline.yaml` prints as ir_hash.
EXAMPLE_HASH = "32f05eab9a06d6d62c992978e6e30ac362a578142347d9826295091a7b66b3bc"


def _example_ir(isolated):
    (fn,) = load_target(str(EXAMPLE_DIR / "user_features.py"))
    return fn()


def test_example_matches_yaml_ir(isolated_imports):
    ir = _example_ir(isolated_imports)
    want = canonical_json(json.loads((EXAMPLE_DIR / "pipeline.ir.json").read_text(encoding="utf-8")))
    assert ir.canonical_json() == want
    assert ir.ir_hash() == hash_bytes(want) == EXAMPLE_HASH


def test_example_shape(isolated_imports):
    d = _example_ir(isolated_imports).to_dict()
    assert d["nodes"]["orders_onelake"]["params"] == {
        "kind": "onelake", "table": "raw.sales_orders", "format": "delta", "partitions": {"dt": "{{ ds }}"}}
    assert d["nodes"]["build_user_features"]["resources"] == {}
    assert d["nodes"]["user_features_onelake"]["input_ids"] == ["build_user_features"]
    assert d["extra"]["cost_center"] is None


def test_no_defaults_are_filled():
    @pipeline(id="p", owner="o", env="dev")
    def p_(p):
        ds = p.read(source.onelake(id="s", table="a.b"))
        t = ds.transform(id="t", engine="spark", sql="SELECT 1", resources=resources.spark(cluster="c"))
        p.write(t, sink.onelake(id="k", table="c.d"))

    d = p_().to_dict()
    assert d["nodes"]["s"]["params"] == {"kind": "onelake", "table": "a.b"}
    assert d["nodes"]["k"]["params"] == {"kind": "onelake", "table": "c.d"}
    assert d["nodes"]["t"]["params"] == {"sql": "SELECT 1"}
    assert d["nodes"]["t"]["resources"] == {"cluster": "c"}
    assert d["schedule"] is None and d["sla_minutes"] == 60
    assert d["tags"] == ["env:dev"]
    assert d["extra"] == {"team": None, "env": "dev", "project": None, "cost_center": None}


def test_tags_extra_and_edges():
    @pipeline(id="p", schedule="@daily", owner="o", sla_minutes=30, tags=["z", "a", "z", "team:x"],
              team="x", env="prod", cost_center="", description="d", params={"k": 1})
    def p_(p):
        a = p.read(source.files(id="a", path="file:///a"))
        b = p.read(source.files(id="b", path="file:///b"))
        j = p.transform(id="j", engine="arrow", inputs=[b, "a"], steps=[{"select": ["x"]}])
        p.write(j, sink.files(id="out", path="file:///o", format=None))

    d = p_().to_dict()
    assert d["tags"] == ["a", "env:prod", "team:x", "z"]  # empty cost_center gives no tag
    assert d["extra"] == {"team": "x", "env": "prod", "project": None, "cost_center": "",
                          "description": "d", "params": {"k": 1}}
    assert d["nodes"]["j"]["input_ids"] == ["b", "a"]
    assert d["edges"] == [["a", "j"], ["b", "j"], ["j", "out"]]
    assert d["nodes"]["out"]["params"] == {"kind": "files", "path": "file:///o"}
    assert d["sla_minutes"] == 30


def test_entrypoint_and_kwargs_in_params_none_dropped():
    @pipeline(id="p", owner="o")
    def p_(p):
        p.read(source.onelake(id="s", table="a.b")).transform(
            id="t", engine="python", entrypoint="m:f", fn=None, timeout="5m", unused=None)

    assert p_().to_dict()["nodes"]["t"]["params"] == {"entrypoint": "m:f", "timeout": "5m"}


def test_each_call_builds_a_fresh_ir():
    @pipeline(id="p", owner="o")
    def p_(p):
        p.read(source.onelake(id="s", table="a.b"))

    assert p_() is not p_()
    assert p_().ir_hash() == p_().ir_hash()
    assert p_._pipeline_id == "p" and p_.__name__ == "p_"


def test_team_plugins_seed_style(clean_registries):
    """The original design's plugin example: a team's builders, in the seed's style (defaults, an "extra" wrapper)."""

    @register_source("internal_kafka")
    def internal_kafka_source(id, topic, bootstrap_servers, starting_offsets="latest", **kwargs):
        return {"id": id, "kind": "internal_kafka", "topic": topic, "bootstrap_servers": bootstrap_servers,
                "starting_offsets": starting_offsets, "extra": kwargs}

    @register_spark_source_reader("internal_kafka")
    def read_internal_kafka(spark, params, context):  # never called: name-only registry
        raise AssertionError

    @register_sink("audit_log")
    def audit_sink(id, stream, **kwargs):
        return {"id": id, "stream": stream, **kwargs}  # no kind: the registered name is used

    @register_engine("gpu")
    def gpu_engine(gpus=1, **kwargs):
        return {"engine": "gpu", "gpus": gpus, "extra": kwargs}

    @pipeline(id="p", owner="o")
    def p_(p):
        ds = p.read(source.internal_kafka(id="k", topic="t", bootstrap_servers="b:9092", group="g"))
        out = ds.transform(id="t", engine="gpu", fn="m:f", resources=resources.gpu(gpus=2, vram="80g"))
        p.write(out, sink("audit_log", id="a", stream="s"))

    d = p_().to_dict()
    assert d["nodes"]["k"]["params"] == {"kind": "internal_kafka", "topic": "t", "bootstrap_servers": "b:9092",
                                         "starting_offsets": "latest", "group": "g"}
    assert d["nodes"]["t"]["resources"] == {"gpus": 2, "vram": "80g"}
    assert d["nodes"]["a"]["params"] == {"kind": "audit_log", "stream": "s"}


def test_unknown_kind_suggests():
    with pytest.raises(AttributeError, match=r"did you mean source\.onelake"):
        source.onelak(id="x", table="a.b")
    assert "onelake" in dir(source)


def test_resources_of_another_engine_are_rejected():
    @pipeline(id="p", owner="o")
    def p_(p):
        p.read(source.onelake(id="s", table="a.b")).transform(
            id="t", engine="python", fn="m:f", resources=resources.spark(cluster="c"))

    with pytest.raises(ValueError, match="resources are for engine 'spark'"):
        p_()


def test_non_json_param_is_located():
    @pipeline(id="p", owner="o")
    def p_(p):
        p.read(source.onelake(id="s", table="a.b", snapshot={1, 2}))

    with pytest.raises(ValueError, match=r"test_dsl_ir\.py:\d+: p/s: params: snapshot: set is not JSON"):
        p_()


# What `aiflow-runner validate examples/flink_streaming/pipeline.yaml` prints as ir_hash.
STREAMING_HASH = "9883ba098fd3deb04746c018e8fffd54a93660b1bc183982e0235a777e106594"


def test_streaming_example_matches_yaml_ir(isolated_imports):
    """mode="streaming" is a pipeline keyword like description: it lands in extra.mode, and the
    DSL's streaming example hashes like its YAML."""
    (fn,) = load_target(str(EXAMPLE_DIR.parent / "flink_streaming" / "paid_clicks_stream.py"))
    ir = fn()
    assert ir.to_dict()["extra"]["mode"] == "streaming"
    assert ir.ir_hash() == STREAMING_HASH
