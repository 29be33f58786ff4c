"""Canonical JSON: the shared vectors (also checked by Go) and Python-native values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from aiflow_sdk.canonical import canonical_json, canonical_str, ir_hash

VECTORS = json.loads((Path(__file__).parent / "canonical_vectors.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("vec", VECTORS["vectors"], ids=[v["name"] for v in VECTORS["vectors"]])
def test_vector(vec):
    got = canonical_json(json.loads(vec["input_json"]))
    assert got.decode("utf-8") == vec["canonical"]
    assert ir_hash(json.loads(vec["input_json"])) == vec["sha256"]


@pytest.mark.parametrize("vec", VECTORS["errors"], ids=[v["name"] for v in VECTORS["errors"]])
def test_error_vector(vec):
    with pytest.raises((ValueError, TypeError)):
        canonical_json(json.loads(vec["input_json"]))


def test_vectors_cover_the_rules():
    names = " ".join(v["name"] for v in VECTORS["vectors"])
    for rule in ("integral float", "html", "whitespace", "control", "lone surrogate", "key order", "int64"):
        assert rule in names


@pytest.mark.parametrize("value,want", [
    ((1, 2.0, "a"), '[1,2,"a"]'),                   # tuples are lists
    ({"k": True, "j": 1}, '{"j":1,"k":true}'),      # bool is not written as 1
    (2**70, "1.1805916207174113e+21"),             # beyond int64: as Go reads it, a float64
    (-(2**63), "-9223372036854775808"),
    (float(2**53), "9007199254740992"),
    (1e-7, "1e-07"),
    ("\u2028<&>", '"\\u2028<&>"'),
    ("\x7f\x00", '"\x7f\\u0000"'),
])
def test_python_values(value, want):
    assert canonical_str(value) == want


@pytest.mark.parametrize("value", [math.nan, math.inf, {1: "a"}, {"a": {1, 2}}, object(), 10**400])
def test_rejects(value):
    with pytest.raises((TypeError, ValueError)):
        canonical_json(value)


def test_error_names_the_path():
    with pytest.raises(TypeError, match=r"a\.b\[1\]"):
        canonical_json({"a": {"b": [1, {2}]}})
