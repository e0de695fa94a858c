"""What a function of the SDK does, read from its code object, for shortcuts that depend on it.

crocotel skips a few SDK calls on the per-span and per-record path where it can do their work
in fewer steps: a getter that only returns a field, a check that only reads two attributes, a
processor hook that does nothing. Each shortcut holds only while the SDK's code is still that
simple, so it asks here once, at set-up, and takes the SDK's own path when the answer is no.
"""

from __future__ import annotations

import dis
from typing import Any

__all__ = ["does_nothing", "reads_only"]

_QUIET_OPS = frozenset({"RESUME", "NOP", "CACHE", "LOAD_CONST", "RETURN_VALUE", "RETURN_CONST"})


def reads_only(function: Any, names: tuple[str, ...]) -> bool:
    """Whether ``function``'s code names exactly ``names`` (the attributes and globals it reads,
    in order); False for anything without Python code (a property's getter is passed as such)."""
    code = getattr(function, "__code__", None)
    return code is not None and code.co_names == names


def does_nothing(function: Any) -> bool:
    """Whether ``function`` only returns None (a processor's unused hook, such as the SDK's
    ``SpanProcessor.on_start``); False for anything without Python code to read."""
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    try:
        instructions = list(dis.get_instructions(code))
    except Exception:
        return False
    return all(
        i.opname in _QUIET_OPS and (i.opname not in ("LOAD_CONST", "RETURN_CONST") or i.argval is None)
        for i in instructions
    )
