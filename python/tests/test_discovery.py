"""Discovery: every pipeline of a package, a file or a folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aiflow_sdk.discovery import discover_pipelines, load_target

PIPE = """
from aiflow_sdk.dsl import pipeline, source, sink


@pipeline(id="{id}", schedule="@daily", owner="o", env="dev")
def {fn}(p):
    ds = p.read(source.onelake(id="s", table="a.b"))
    p.write(ds, sink.onelake(id="k", table="c.d"))
"""


def make_package(root: Path) -> None:
    pkg = root / "team_repo" / "pipelines"
    (pkg / "more").mkdir(parents=True)
    (root / "team_repo" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "orders.py").write_text(PIPE.format(id="orders_daily", fn="orders"))
    (pkg / "users.py").write_text(PIPE.format(id="users_daily", fn="users") +
                                  "\nfrom .orders import orders  # re-exported: counted once\n")
    (pkg / "more" / "__init__.py").write_text("")
    (pkg / "more" / "clicks.py").write_text(PIPE.format(id="clicks_hourly", fn="clicks"))
    (pkg / "helpers.py").write_text("X = 1\n")


def test_discover_package_by_name(tmp_path, isolated_imports, monkeypatch):
    make_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    irs = discover_pipelines("team_repo.pipelines")
    assert sorted(ir.id for ir in irs) == ["clicks_hourly", "orders_daily", "users_daily"]
    assert all(ir.tags == ["env:dev"] for ir in irs)


def test_discover_package_by_folder(tmp_path, isolated_imports):
    make_package(tmp_path)
    fns = load_target(str(tmp_path / "team_repo" / "pipelines"))
    assert sorted(fn._pipeline_id for fn in fns) == ["clicks_hourly", "orders_daily", "users_daily"]


def test_plain_folder_imports_top_level_files_only(tmp_path, isolated_imports):
    (tmp_path / "a.py").write_text(PIPE.format(id="a", fn="a"))
    (tmp_path / "b.py").write_text(PIPE.format(id="b", fn="b"))
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    assert [fn._pipeline_id for fn in load_target(str(tmp_path))] == ["a", "b"]


def test_file_sees_its_sibling_packages(tmp_path, isolated_imports):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "__init__.py").write_text("TABLE = 'x.y'\n")
    (tmp_path / "p.py").write_text(textwrap.dedent("""
        from aiflow_sdk.dsl import pipeline, source
        from shared import TABLE

        @pipeline(id="p", owner="o")
        def p_(p):
            p.read(source.onelake(id="s", table=TABLE))
    """))
    (fn,) = load_target(str(tmp_path / "p.py"))
    assert fn().nodes["s"].params["table"] == "x.y"


def test_missing_target(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_target(str(tmp_path / "nope.py"))
    with pytest.raises(ModuleNotFoundError):
        load_target("no_such_module_for_aiflow")
