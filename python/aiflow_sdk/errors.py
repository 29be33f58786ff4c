"""Definition errors that point at the user's file and line.

A pipeline author reads ``user_features.py:27: daily_user_feature_pipeline/enrich_orders:
duplicate node id ...``, the same ``file:line: pipeline/node: message`` shape as the Go loader's
problems, never a line inside aiflow_sdk.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Optional

__all__ = ["SourceLocation", "PipelineDefinitionError", "caller_location"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class SourceLocation:
    """A place in the user's code."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line > 0 else self.file


def _display_path(path: str) -> str:
    """Relative to the working directory when below it (as the Go CLI prints), else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


def caller_location() -> Optional[SourceLocation]:
    """The innermost stack frame outside the aiflow_sdk package: the user's call site."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep):
            if filename.startswith("<"):  # <stdin>, <string>: keep as is
                return SourceLocation(filename, frame.f_lineno)
            return SourceLocation(_display_path(filename), frame.f_lineno)
        frame = frame.f_back
    return None


class PipelineDefinitionError(ValueError):
    """A mistake in a pipeline definition, located in the user's code.

    A ValueError so that code catching the seed's ValueError (duplicate node id) still works.
    """

    def __init__(self, msg: str, *, pipeline: str = "", node: str = "",
                 location: Optional[SourceLocation] = None) -> None:
        self.msg = msg
        self.pipeline = pipeline
        self.node = node
        self.location = location if location is not None else caller_location()
        super().__init__(str(self))

    @property
    def file(self) -> str:
        return self.location.file if self.location else ""

    @property
    def line(self) -> int:
        return self.location.line if self.location else 0

    def __str__(self) -> str:
        parts = []
        if self.location:
            parts.append(f"{self.location}: ")
        if self.pipeline:
            parts.append(self.pipeline + (f"/{self.node}" if self.node else "") + ": ")
        parts.append(self.msg)
        return "".join(parts)
