"""Canonical JSON and ir_hash, byte-for-byte the same as Go's ``ir.CanonicalJSON``.

The IR's identity is the sha256 of its canonical JSON: a pipeline written in
YAML, in this DSL or as IR JSON must give the same bytes, so these rules mirror
``ir/canonical.go`` exactly. Change both together; ``tests/canonical_vectors.json`` holds the
shared test vectors both sides check.

Rules:

* objects: keys sorted by code point (which is UTF-8 byte order, Go's ``sort.Strings``);
  separators ``,`` and ``:`` with no whitespace;
* strings: raw UTF-8; ``\\"`` ``\\\\`` ``\\n`` ``\\r`` ``\\t`` ``\\b`` ``\\f``; other control characters as
  ``\\u00XX``; U+2028/U+2029 as ``\\u2028``/``\\u2029``; ``<>&`` are *not* escaped; lone
  surrogates (which Go can never hold) become U+FFFD, as Go's JSON decoder makes them;
* numbers: integers within int64 as integers; integral floats with magnitude below 2**53 as
  integers (``4.0`` -> ``4``); every other number (floats, and integers beyond int64, which Go
  reads as float64) in the shortest round-trip form with an exponent when it is < -4 or >= 16,
  like Python's ``repr`` but without a trailing ``.0``; NaN and infinities are errors.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any, Dict, List

__all__ = ["canonical_json", "canonical_str", "ir_hash", "hash_bytes"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_EXACT = float(2**53)

_ESCAPES: Dict[int, str] = {c: "\\u%04x" % c for c in range(0x20)}
_ESCAPES.update({
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\b"): "\\b",
    ord("\f"): "\\f",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
})
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\u2028\u2029]')
_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(s: str) -> str:
    """Replaces lone surrogates by U+FFFD: Go strings cannot hold them."""
    return _SURROGATE.sub("\ufffd", s) if _SURROGATE.search(s) else s


def _string(s: str) -> str:
    s = _clean(s)
    if _NEEDS_ESCAPE.search(s):
        s = s.translate(_ESCAPES)
    return '"' + s + '"'


def _float(f: float, path: str) -> str:
    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"{path or 'value'}: number {f!r} is not representable in JSON")
    if f == math.trunc(f) and abs(f) < _EXACT:
        return str(int(f))
    r = repr(f)
    # Go formats the fixed-point range with strconv 'f' -1: no trailing ".0".
    if r.endswith(".0") and "e" not in r:
        r = r[:-2]
    return r


def _number(v: Any, path: str) -> str:
    if isinstance(v, int):
        if _INT64_MIN <= v <= _INT64_MAX:
            return str(v)
        try:
            v = float(v)  # Go reads an integer beyond int64 as a float64.
        except OverflowError:
            raise ValueError(f"{path or 'value'}: number {v} out of range") from None
    return _float(v, path)


def _write(v: Any, out: List[str], path: str) -> None:
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, str):
        out.append(_string(v))
    elif isinstance(v, (int, float)):
        out.append(_number(v, path))
    elif isinstance(v, dict):
        items = {}
        for k, val in v.items():
            if not isinstance(k, str):
                raise TypeError(f"{path or 'value'}: object keys must be strings, not {type(k).__name__} {k!r}")
            ck = _clean(k)
            if ck in items:
                raise ValueError(f"{path or 'value'}: duplicate key {ck!r}")
            items[ck] = val
        out.append("{")
        for i, k in enumerate(sorted(items)):
            if i:
                out.append(",")
            out.append(_string(k))
            out.append(":")
            _write(items[k], out, f"{path}.{k}" if path else k)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, e in enumerate(v):
            if i:
                out.append(",")
            _write(e, out, f"{path}[{i}]")
        out.append("]")
    else:
        raise TypeError(
            f"{path or 'value'}: {type(v).__name__} is not JSON: use str, int, float, bool, None, list or dict")


def canonical_str(value: Any) -> str:
    """The canonical JSON text of a JSON-like value (dict, list/tuple, str, int, float, bool, None)."""
    out: List[str] = []
    _write(value, out, "")
    return "".join(out)


def canonical_json(value: Any) -> bytes:
    """The canonical JSON bytes (UTF-8) of a JSON-like value."""
    return canonical_str(value).encode("utf-8")


def hash_bytes(b: bytes) -> str:
    """Hex sha256, the form of ir_hash."""
    return hashlib.sha256(b).hexdigest()


def ir_hash(value: Any) -> str:
    """ir_hash of a JSON-like value: the hex sha256 of its canonical JSON."""
    return hash_bytes(canonical_json(value))
