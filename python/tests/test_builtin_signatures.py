"""The built-in DSL builders have the signatures of the Go plugin specs (``aiflow-runner plugins
--json``): every field a source, sink or engine takes is a named parameter, in the spec's order,
so editors and ``help()`` show them; a field added in Go without its Python parameter fails here."""

from __future__ import annotations

import inspect
import json
import os
import subprocess

import pytest

from aiflow_sdk import builtin_plugins  # noqa: F401  (registers the built-in kinds)
from aiflow_sdk.plugins import ENGINE_REGISTRY, SINK_REGISTRY, SOURCE_REGISTRY

RUNNER = os.environ.get("AIFLOW_TEST_RUNNER", "")
if not RUNNER and os.environ.get("CI") == "true":
    raise RuntimeError("AIFLOW_TEST_RUNNER (the aiflow-runner binary) is not set under CI")


def specs():
    out = subprocess.run([RUNNER, "plugins", "--json"], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "AIFLOW_PLUGIN_MODULES"})
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.mark.skipif(not RUNNER, reason="AIFLOW_TEST_RUNNER (aiflow-runner binary) not set")
def test_builders_match_plugin_specs():
    registries = {"source": SOURCE_REGISTRY, "sink": SINK_REGISTRY, "engine": ENGINE_REGISTRY}
    seen = 0
    for spec in specs():
        builder = registries[spec["role"]].get(spec["kind"])
        assert builder is not None, f"no DSL builder for the {spec['role']} {spec['kind']}"
        params = [p.name for p in inspect.signature(builder).parameters.values()
                  if p.kind is not inspect.Parameter.VAR_KEYWORD]
        # Sources and sinks take their params (after the node id); engines their resources.
        fields = spec["resources"] if spec["role"] == "engine" else spec["params"]
        want = [f["name"] for f in fields]
        if spec["role"] != "engine":
            want = ["id"] + want
        assert params == want, f"{spec['role']}.{spec['kind']}: builder parameters {params}, plugin fields {want}"
        assert (builder.__doc__ or "").strip(), f"{spec['role']}.{spec['kind']}: no docstring"
        seen += 1
    assert seen >= 10
