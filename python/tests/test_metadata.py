"""aiflow_sdk.metadata: the in-memory store, and the runner's store through the runner binary."""

import os

import pytest

from aiflow_sdk.discovery import load_target
from aiflow_sdk.metadata import InMemoryMetadataStore, MetadataStore

from conftest import EXAMPLE_DIR


def _example_ir():
    (fn,) = load_target(str(EXAMPLE_DIR / "user_features.py"))
    return fn()


def test_in_memory_store(isolated_imports):
    ir = _example_ir()
    store = InMemoryMetadataStore()
    h = store.register_or_update_pipeline(ir)
    assert store.register_or_update_pipeline(ir) == h == ir.ir_hash()
    assert store.list_pipelines() == [{"pipeline": ir.id, "ir_hash": h, "versions": 1}]
    store.record_node_run_start(pipeline_id=ir.id, run_id="r1", node_id="enrich_orders", extra={"engine": "spark"})
    store.record_node_run_end(pipeline_id=ir.id, run_id="r1", node_id="enrich_orders", status="FAILED", error="boom")
    (run,) = store.get_run("r1")
    assert run["status"] == "FAILED" and run["error"] == "boom" and run["extra"] == {"engine": "spark"}
    assert store.list_runs(status="SUCCESS") == []


def _runner():
    r = os.environ.get("AIFLOW_TEST_RUNNER")
    if not r:
        if os.environ.get("CI") == "true":
            pytest.fail("AIFLOW_TEST_RUNNER is not set (make build; scripts/test.sh sets it)")
        pytest.skip("AIFLOW_TEST_RUNNER is not set (make build, then export AIFLOW_TEST_RUNNER=bin/aiflow-runner)")
    return os.path.abspath(r)


def test_runner_store_records_and_reads(isolated_imports, tmp_path):
    ir = _example_ir()
    store = MetadataStore(dsn=f"sqlite://{tmp_path}/metadata.db", runner=_runner())
    assert store.register_or_update_pipeline(ir) == ir.ir_hash()
    (p,) = store.list_pipelines()
    assert p["pipeline"] == "daily_user_feature_pipeline" and p["ir_hash"] == ir.ir_hash()
    assert not store.list_runs(pipeline_id=ir.id)


def test_runner_store_tenant_filter(isolated_imports, tmp_path, monkeypatch):
    """With AIFLOW_TEAM pinned, the store reads that team's pipelines only (the runner's filter)."""
    ir = _example_ir()
    team = ir.extra.get("team")
    assert team, "the example pipeline names its team"
    store = MetadataStore(dsn=f"sqlite://{tmp_path}/metadata.db", runner=_runner())
    store.register_or_update_pipeline(ir)
    monkeypatch.setenv("AIFLOW_TEAM", "someone_else")
    assert store.list_pipelines() == []
    assert store.list_runs() == []
    monkeypatch.setenv("AIFLOW_TEAM", team)
    assert [p["pipeline"] for p in store.list_pipelines()] == [ir.id]
