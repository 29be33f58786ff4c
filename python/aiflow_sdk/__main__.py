"""``python -m aiflow_sdk build TARGET... --out DIR``: one canonical IR file per pipeline.

Each pipeline found in the targets (see :mod:`aiflow_sdk.discovery` for what a target may be)
is written to ``DIR/<pipeline_id>.ir.json`` holding exactly its canonical JSON bytes, which the
Go runner loads like any IR JSON file (``aiflow-runner plan --json DIR/<id>.ir.json``). One line
per file goes to stdout: the path and its ir_hash.

Exit codes follow the runner's (sysexits): 0 ok, 64 usage, 78 the pipelines could not be built
(definition error, import error, exception in a pipeline function).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from typing import List, NoReturn, Optional

from .check import RunnerCheckError, check_with_runner, find_runner, runner_version_warning
from .discovery import build_all
from .errors import PipelineDefinitionError

EX_USAGE = 64
EX_CONFIG = 78


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def _write_atomic(path: str, data: bytes) -> None:
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".ir.json")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build(targets: List[str], out: str, only: Optional[List[str]] = None) -> int:
    try:
        irs = build_all(targets)
    except PipelineDefinitionError as e:
        print(f"error: {e}", file=sys.stderr)
        return EX_CONFIG
    except Exception:
        traceback.print_exc()
        print("error: the pipeline definitions could not be loaded (traceback above)", file=sys.stderr)
        return EX_CONFIG
    if only:
        missing = sorted(set(only) - {ir.id for ir in irs})
        if missing:
            print(f"error: no pipeline {', '.join(missing)} in {' '.join(targets)}", file=sys.stderr)
            return EX_CONFIG
        irs = [ir for ir in irs if ir.id in only]
    if not irs:
        print(f"error: no @pipeline found in {' '.join(targets)}", file=sys.stderr)
        return EX_CONFIG
    os.makedirs(out, exist_ok=True)
    written = []
    for ir in irs:
        try:
            data = ir.canonical_json()
        except (TypeError, ValueError) as e:
            print(f"error: {ir.id}: {e}", file=sys.stderr)
            return EX_CONFIG
        path = os.path.join(out, f"{ir.id}.ir.json")
        _write_atomic(path, data)
        written.append((path, ir.ir_hash()))
    # Every check the runner makes, reported at the user's .py lines (aiflow_sdk.check).
    runner = find_runner()
    if runner:
        warning = runner_version_warning(runner)
        if warning:
            print(warning, file=sys.stderr)
        try:
            problems = check_with_runner(irs, [p for p, _ in written], runner)
        except RunnerCheckError as e:
            print(f"error: {e}", file=sys.stderr)
            return EX_CONFIG
        if problems:
            for line in problems:
                print(line, file=sys.stderr)
            return EX_CONFIG
    else:
        print("note: aiflow-runner not found (AIFLOW_RUNNER or PATH): the IR was not validated; "
              "run aiflow-runner validate " + out, file=sys.stderr)
    for path, h in written:
        print(f"{path} {h}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = _Parser(prog="python -m aiflow_sdk", description="aiflow Python SDK")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    b = sub.add_parser("build", help="write the canonical IR of every pipeline found",
                       description="Write DIR/<pipeline_id>.ir.json (canonical IR) for every @pipeline "
                                   "in the targets: module or package names, .py files or folders.")
    b.add_argument("targets", nargs="+", metavar="PACKAGE_OR_FILE")
    b.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    b.add_argument("--pipeline", action="append", metavar="ID", help="only this pipeline (repeatable)")
    args = parser.parse_args(argv)
    if args.command != "build":
        parser.print_help(sys.stderr)
        return EX_USAGE
    return build(args.targets, args.out, args.pipeline)


if __name__ == "__main__":
    sys.exit(main())
