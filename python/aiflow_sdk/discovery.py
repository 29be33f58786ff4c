"""Find every pipeline in a package, module, file or folder.

A pipeline is a module-level function decorated with ``@pipeline``. ``discover_pipelines`` keeps
the seed's signature (a dotted package name, returning ``PipelineIR`` objects); it walks
sub-packages too. ``load_target`` accepts what the ``build`` command line does:

* a dotted module or package name importable from ``sys.path`` (``user_repo.pipelines``);
* a ``.py`` file: its folder goes first on ``sys.path`` (so its sibling packages, such as
  ``etl_jobs``, import) and the file is imported under its file name;
* a package folder (with ``__init__.py``): its parent goes on ``sys.path`` and the package is
  walked recursively;
* a plain folder: it goes on ``sys.path`` and each of its top-level ``.py`` files is imported
  (sub-folders are not: they usually hold the transform code, which may need pyarrow).

The same function object found through two modules counts once; two different pipelines with
the same id are an error located at the second one.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from types import ModuleType
from typing import Any, Callable, Dict, Iterable, List

from .dsl import is_pipeline
from .errors import PipelineDefinitionError, SourceLocation
from .ir import PipelineIR
from .metadata import InMemoryMetadataStore

__all__ = ["discover_pipelines", "pipelines_in_module", "load_target", "build_all", "METADATA_STORE"]

#: Where discover_pipelines registers what it found (the seed's module global).
METADATA_STORE: Any = InMemoryMetadataStore()

PipelineFn = Callable[[], PipelineIR]


def pipelines_in_module(module: ModuleType) -> List[PipelineFn]:
    """The @pipeline functions a module defines or imports, in attribute-name order."""
    out = []
    for attr_name in sorted(vars(module)):
        attr = getattr(module, attr_name)
        if is_pipeline(attr):
            out.append(attr)
    return out


def _walk_package(pkg: ModuleType) -> List[ModuleType]:
    modules = [pkg]
    path = getattr(pkg, "__path__", None)
    if path is None:
        return modules
    for info in sorted(pkgutil.walk_packages(path, prefix=pkg.__name__ + "."), key=lambda i: i.name):
        modules.append(importlib.import_module(info.name))
    return modules


def _prepend_path(folder: str) -> None:
    folder = os.path.abspath(folder)
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _import_file(path: str) -> ModuleType:
    """Imports a .py file under its file name, with its folder on sys.path."""
    path = os.path.abspath(path)
    folder, filename = os.path.split(path)
    name = os.path.splitext(filename)[0]
    _prepend_path(folder)
    existing = sys.modules.get(name)
    if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") == path:
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _modules_for(target: str) -> List[ModuleType]:
    if os.path.isfile(target):
        if not target.endswith(".py"):
            raise ValueError(f"{target}: not a Python file")
        return [_import_file(target)]
    if os.path.isdir(target):
        folder = os.path.abspath(target)
        if os.path.isfile(os.path.join(folder, "__init__.py")):
            _prepend_path(os.path.dirname(folder))
            return _walk_package(importlib.import_module(os.path.basename(folder)))
        return [_import_file(os.path.join(folder, f))
                for f in sorted(os.listdir(folder)) if f.endswith(".py") and not f.startswith(".")]
    if os.sep in target or target.endswith(".py"):
        raise FileNotFoundError(f"{target}: no such file or folder")
    return _walk_package(importlib.import_module(target))


def _dedupe(fns: Iterable[PipelineFn]) -> List[PipelineFn]:
    seen_fn: set = set()
    by_id: Dict[str, PipelineFn] = {}
    out = []
    for fn in fns:
        if id(fn) in seen_fn:
            continue
        seen_fn.add(id(fn))
        pid = fn._pipeline_id  # type: ignore[attr-defined]
        first = by_id.get(pid)
        if first is not None:
            where = getattr(first, "_pipeline_location", None)
            if where is not None and where == getattr(fn, "_pipeline_location", None):
                continue  # one file imported under two module names
            raise PipelineDefinitionError(
                f"duplicate pipeline id {pid!r}" + (f" (first at {where})" if where else ""),
                pipeline=pid, location=getattr(fn, "_pipeline_location", None) or SourceLocation("", 0))
        by_id[pid] = fn
        out.append(fn)
    return out


def load_target(target: str) -> List[PipelineFn]:
    """The @pipeline functions of a module name, package name, .py file or folder."""
    fns: List[PipelineFn] = []
    for module in _modules_for(target):
        fns.extend(pipelines_in_module(module))
    return _dedupe(fns)


def build_all(targets: Iterable[str]) -> List[PipelineIR]:
    """The IR of every pipeline in the targets, in order of discovery."""
    fns: List[PipelineFn] = []
    for t in targets:
        fns.extend(load_target(t))
    return [fn() for fn in _dedupe(fns)]


def discover_pipelines(package_name: str) -> List[PipelineIR]:
    """The IR of every pipeline in a package and its sub-packages, each registered in
    ``METADATA_STORE`` (an ``InMemoryMetadataStore``; assign an ``aiflow_sdk.metadata.MetadataStore``
    to record versions in the runner's store, which ``aiflow_sdk.compiler`` also does at every new
    ir_hash when ``AIFLOW_METADATA_DSN`` is set)."""
    irs = [fn() for fn in load_target(package_name)]
    for ir in irs:
        METADATA_STORE.register_or_update_pipeline(ir)
    return irs
