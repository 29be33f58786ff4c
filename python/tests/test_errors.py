"""Definition errors point at the user's file and line, never into aiflow_sdk."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aiflow_sdk.discovery import load_target
from aiflow_sdk.errors import PipelineDefinitionError

HEADER = "from aiflow_sdk.dsl import pipeline, source, sink, resources\n"


def build_file(tmp_path: Path, body: str, name: str = "user_pipe.py"):
    """Writes a user file (line 1 is the import) and builds its pipelines."""
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return [fn() for fn in load_target(str(path))]


def line_of(tmp_path: Path, needle: str, name: str = "user_pipe.py") -> int:
    for i, line in enumerate((tmp_path / name).read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def assert_located(err: PipelineDefinitionError, tmp_path: Path, needle: str, prefix: str) -> None:
    line = line_of(tmp_path, needle)
    assert err.file.endswith("user_pipe.py") and err.line == line, str(err)
    assert str(err).startswith(f"{err.file}:{line}: {prefix}"), str(err)


def test_duplicate_node_id(tmp_path, isolated_imports):
    with pytest.raises(PipelineDefinitionError) as e:
        build_file(tmp_path, """
            @pipeline(id="p", owner="o")
            def p_(p):
                a = p.read(source.onelake(id="orders", table="a.b"))
                b = a.transform(id="orders", engine="spark", sql="SELECT 1")  # dup
        """)
    assert_located(e.value, tmp_path, "# dup", "p/orders: duplicate node id 'orders'")
    assert f"(first at line {line_of(tmp_path, 'p.read')})" in str(e.value)
    assert isinstance(e.value, ValueError)  # the seed raised ValueError


def test_reading_an_undefined_dataset(tmp_path, isolated_imports):
    with pytest.raises(PipelineDefinitionError) as e:
        build_file(tmp_path, """
            @pipeline(id="p", owner="o")
            def p_(p):
                p.read(source.onelake(id="orders", table="a.b"))
                p.transform(id="t", engine="arrow", inputs=["ordres"])  # undefined
        """)
    assert_located(e.value, tmp_path, "# undefined", "p/t: reads undefined dataset 'ordres' (defined: orders)")


def test_reading_a_dataset_of_another_pipeline(tmp_path, isolated_imports):
    with pytest.raises(PipelineDefinitionError) as e:
        build_file(tmp_path, """
            LEAK = {}

            @pipeline(id="a", owner="o")
            def a_(p):
                LEAK["ds"] = p.read(source.onelake(id="orders", table="a.b"))

            @pipeline(id="b", owner="o")
            def b_(p):
                a_()
                p.write(LEAK["ds"], sink.onelake(id="out", table="c.d"))  # foreign
        """)
    assert_located(e.value, tmp_path, "# foreign", "b/out: reads dataset 'orders' of pipeline 'a'")


def test_sink_with_no_input(tmp_path, isolated_imports):
    with pytest.raises(PipelineDefinitionError) as e:
        build_file(tmp_path, """
            @pipeline(id="p", owner="o")
            def p_(p):
                p.read(source.onelake(id="orders", table="a.b"))
                p.write(sink.onelake(id="out", table="c.d"))  # no input
        """)
    assert_located(e.value, tmp_path, "# no input", "p/out: sink has no input")


def test_sink_with_none_input(tmp_path, isolated_imports):
    with pytest.raises(PipelineDefinitionError) as e:
        build_file(tmp_path, """
            @pipeline(id="p", owner="o")
            def p_(p):
                ds = None
                p.write(ds, sink.onelake(id="out", table="c.d"))  # none
        """)
    assert_located(e.value, tmp_path, "# none", "p/out: sink has no input")


def test_bad_builder_call(tmp_path, isolated_imports):
    with pytest.raises(PipelineDefinitionError) as e:
        build_file(tmp_path, """
            @pipeline(id="p", owner="o")
            def p_(p):
                p.read(source.onelake(id="orders"))  # no table
        """)
    assert_located(e.value, tmp_path, "# no table", "source.onelake(...): missing a required argument: 'table'")


def test_bad_pipeline_arguments(tmp_path, isolated_imports):
    with pytest.raises(PipelineDefinitionError) as e:
        build_file(tmp_path, """
            @pipeline(id="p", owner="o", sla_minutes="soon")  # sla
            def p_(p):
                pass
        """)
    assert_located(e.value, tmp_path, "# sla", "p: sla_minutes must be an integer")


def test_duplicate_pipeline_id(tmp_path, isolated_imports):
    with pytest.raises(PipelineDefinitionError) as e:
        build_file(tmp_path, """
            @pipeline(id="p", owner="o")
            def first(p):
                pass

            @pipeline(id="p", owner="o")  # second
            def second(p):
                pass
        """)
    assert_located(e.value, tmp_path, "# second", "p: duplicate pipeline id 'p'")
