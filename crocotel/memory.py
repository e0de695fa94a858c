"""The C heap's free pages handed back to the system after export batches (glibc only).

Every span and log record waits in its export queue as bytes, for up to the batch delay:
longer than the bot's own short-lived allocations. Whatever longer-lived the bot allocates
meanwhile, glibc places among those queued items, and the holes they leave when their batch is
sent stay resident: in a soak, memory in use stayed level while the heap's free part grew, and
crocbot's RSS rose by about 9 MB an hour more than the bare bot's, new chats or not.
glibc's ``malloc_trim(0)`` returns the whole free pages inside such holes to the system;
about 0.2 ms, done from the export thread after a batch, at most once per interval
(``CROCOTEL_HEAP_TRIM_INTERVAL``). Other C libraries (musl, macOS) get the null trimmer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

__all__ = ["NO_TRIM", "HeapTrim", "heap_trim"]


class _NoTrim:
    """The trimmer where there is nothing to call: trimming off, or a C library without it."""

    def __call__(self) -> None:
        """Nothing."""


NO_TRIM = _NoTrim()


class HeapTrim:
    """Calls ``trim(0)`` at most once per ``interval`` seconds; never raises."""

    def __init__(
        self,
        interval: float,
        trim: Callable[[int], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._trim = trim
        self._clock = clock
        self._next = clock() + interval

    def __call__(self) -> None:
        """Trim if the interval has passed since the last time (two threads at once may both)."""
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._interval
        try:
            trim = self._trim
            if trim is None:  # looked up here, in the export thread, not at the bot's start-up
                trim = self._trim = _malloc_trim()
            trim(0)
        except Exception:
            self._trim = _ignore  # a C library that refuses: stop asking


def _ignore(pad: int) -> None:
    """Stands in for a ``malloc_trim`` that failed."""


def _malloc_trim() -> Callable[[int], Any]:
    """glibc's ``malloc_trim`` from the process's own C library."""
    import ctypes

    function = ctypes.CDLL(None).malloc_trim
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


def _glibc() -> bool:
    """Whether the process runs on glibc (musl and other systems have no ``malloc_trim``)."""
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return False
    return bool(version) and str(version).startswith("glibc")


def heap_trim(interval: float) -> HeapTrim | _NoTrim:
    """The trimmer for ``interval`` seconds (0: off), or the null one where glibc is not there."""
    if interval <= 0 or not _glibc():
        return NO_TRIM
    return HeapTrim(interval)
