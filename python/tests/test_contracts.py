"""output_schema= and checks= of the DSL: written into the node's output_schema, as YAML's
output_schema: and checks: are, so both give one IR; mistakes fail at the call."""

from __future__ import annotations

import pytest

from aiflow_sdk.dsl import pipeline, sink, source
from aiflow_sdk.errors import PipelineDefinitionError


def test_checks_go_into_output_schema():
    @pipeline(id="c", owner="o", env="dev")
    def c(p):
        ds = p.read(source.files(id="s", path="/d/"), checks=[{"row_count": {"min": 1}}])
        t = ds.transform(id="t", engine="arrow", steps=[], output_schema={"columns": [{"name": "a", "type": "int64"}]},
                         checks=({"unique": ["a"]},))
        p.write(t, sink.files(id="k", path="/o/"), checks=[{"row_count": {"max": 9}}])

    nodes = c().to_dict()["nodes"]
    assert nodes["s"]["output_schema"] == {"checks": [{"row_count": {"min": 1}}]}
    assert nodes["t"]["output_schema"] == {"columns": [{"name": "a", "type": "int64"}], "checks": [{"unique": ["a"]}]}
    assert nodes["t"]["params"] == {"steps": []}
    assert nodes["k"]["output_schema"] == {"checks": [{"row_count": {"max": 9}}]}


def test_no_contract_is_null():
    @pipeline(id="c", owner="o", env="dev")
    def c(p):
        p.write(p.read(source.files(id="s", path="/d/")), sink.files(id="k", path="/o/"))

    assert c().to_dict()["nodes"]["s"]["output_schema"] is None


@pytest.mark.parametrize("kwargs, message", [
    ({"output_schema": {"checks": []}, "checks": []}, "checks are given twice"),
    ({"checks": {"row_count": {"min": 1}}}, "checks must be a list"),
    ({"output_schema": ["a"]}, "output_schema must be a dict"),
])
def test_mistakes_fail_at_the_call(kwargs, message):
    @pipeline(id="c", owner="o", env="dev")
    def c(p):
        p.read(source.files(id="s", path="/d/")).transform(id="t", engine="arrow", steps=[], **kwargs)

    with pytest.raises(PipelineDefinitionError, match=message):
        c()
