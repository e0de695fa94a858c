"""Log values as plain JSON types, for the JSON, logfmt and OTLP outputs.

Redaction happened before (see :mod:`crocotel.logs.records`); this only makes any value
writable: nested containers walked to a bounded depth and length, numbers JSON and OTLP can
carry, anything else as its text. Nothing here raises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import islice
from typing import Any

__all__ = ["Plain", "plain", "safe_str"]

Plain = Any
"""JSON-safe values: str, int, float, bool, None, and lists and dicts of them."""

_MAX_DEPTH = 6
_MAX_ITEMS = 100
_INT64 = 2**63


def safe_str(value: object) -> str:
    """``str(value)``, falling back to ``repr`` and then to the type name: never raises."""
    try:
        return str(value)
    except Exception:
        pass
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def plain(value: object) -> Plain:
    """``value`` as plain JSON types; a container that fails while walked becomes a short note."""
    try:
        return _plain(value, 0)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _plain(value: object, depth: int) -> Plain:
    """Non-finite floats and integers beyond 64 bits become strings (JSON and OTLP cannot carry
    them); containers are walked to a bounded depth and length so a huge or cyclic structure
    cannot stall the logging call."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is int:
        return value if -_INT64 <= value < _INT64 else str(value)  # type: ignore[operator]
    if kind is float:
        return value if math.isfinite(value) else str(value)  # type: ignore[arg-type]
    if depth < _MAX_DEPTH:
        if isinstance(value, Mapping):
            out: dict[str, Plain] = {}
            for i, (k, v) in enumerate(value.items()):
                if i == _MAX_ITEMS:
                    out["..."] = f"{len(value) - i} more"
                    break
                out[k if type(k) is str else safe_str(k)] = _plain(v, depth + 1)
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [_plain(v, depth + 1) for v in islice(value, _MAX_ITEMS)]
            if len(value) > _MAX_ITEMS:
                items.append(f"... {len(value) - _MAX_ITEMS} more")
            return items
    if isinstance(value, str):  # str subclasses, e.g. enum.StrEnum members
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return safe_str(value)
