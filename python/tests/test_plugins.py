"""Registries: duplicates are refused, lookups explain what exists."""

from __future__ import annotations

import sys

import pytest

from aiflow_sdk import plugins
from aiflow_sdk.plugins import (get_engine_builder, get_source_builder, get_spark_source_reader,
                                register_engine, register_sink, register_source,
                                register_spark_source_reader)


@pytest.mark.parametrize("register,name", [
    (register_source, "onelake"), (register_sink, "feature_store"), (register_engine, "spark"),
])
def test_builtin_names_cannot_be_registered_again(register, name, clean_registries):
    with pytest.raises(ValueError, match="already registered"):
        register(name)(lambda **kw: {})


@pytest.mark.parametrize("register", [register_source, register_sink, register_engine, register_spark_source_reader])
def test_duplicate_registration(register, clean_registries):
    register("team_thing")(lambda **kw: {})
    with pytest.raises(ValueError, match="'team_thing' already registered"):
        register("team_thing")(lambda **kw: {})


def test_spark_reader_registry_needs_no_pyspark(clean_registries):
    def reader(spark, params, context):
        return None

    assert register_spark_source_reader("team_kafka")(reader) is reader
    assert get_spark_source_reader("team_kafka") is reader
    assert "pyspark" not in sys.modules


def test_builtins_present():
    assert {"onelake", "onestream", "kafka", "files"} <= set(plugins.SOURCE_REGISTRY)
    assert {"onelake", "feature_store", "files", "kafka"} <= set(plugins.SINK_REGISTRY)
    assert {"spark", "arrow", "python"} <= set(plugins.ENGINE_REGISTRY)
    assert get_engine_builder("python")() == {}


def test_unknown_lookup_is_a_keyerror_with_a_hint():
    with pytest.raises(KeyError) as e:
        get_source_builder("onelak")
    assert "did you mean 'onelake'" in str(e.value)


def test_dsl_imports_nothing_heavy():
    import subprocess

    from conftest import sdk_env

    code = ("import sys, aiflow_sdk.dsl, aiflow_sdk.discovery, aiflow_sdk.__main__; "
            "bad = [m for m in ('pyarrow', 'pandas', 'pyspark', 'numpy') if m in sys.modules]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], env=sdk_env()).returncode == 0


def test_readers_and_writers_registries():
    from aiflow_sdk import plugins as p

    @p.register_arrow_source_reader("t_arrow_kind")
    def read(params, context):
        return None

    @p.register_sink_writer("t_sink_kind")
    def write(data, params, context):
        return None

    assert p.get_arrow_source_reader("t_arrow_kind") is read
    assert p.ARROW_SOURCE_READERS[("arrow", "t_arrow_kind")] is read
    assert p.get_sink_writer("t_sink_kind") is write
    with pytest.raises(ValueError):
        p.register_sink_writer("t_sink_kind")(write)
    with pytest.raises(p.UnknownPluginError):
        p.get_sink_writer("nope")
    assert issubclass(p.TemporaryError, Exception)
