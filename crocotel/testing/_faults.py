"""Injectable faults for the Bot API stand-in.

Faults are queued per Bot API method and consumed one per call, in order, so a
test can say "the next two sendMessage calls get 429" and then watch the bot
recover. Errors and delays sit in separate queues, so one call can be both slow
and failing. The plan is guarded by a lock because tests may queue faults from
another thread than the one serving requests.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class CannedError:
    """One Telegram-shaped error answer: HTTP status equals ``error_code``."""

    error_code: int
    description: str
    retry_after: int | None = None

    def body(self) -> dict[str, object]:
        """The JSON object Telegram sends for this error."""
        payload: dict[str, object] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            payload["parameters"] = {"retry_after": self.retry_after}
        return payload


@dataclass(frozen=True)
class PlannedFault:
    """What to do to one call: wait ``delay`` seconds, then answer ``error`` if set."""

    delay: float = 0.0
    error: CannedError | None = None


def _key(method: str) -> str:
    """Telegram matches method names case-insensitively; so do we."""
    return method.lower()


class FaultPlan:
    """Per-method queues of canned errors and delays, consumed one per call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: dict[str, deque[CannedError]] = {}
        self._delays: dict[str, deque[float]] = {}

    def add_error(self, method: str, error: CannedError, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``error``."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._errors.setdefault(_key(method), deque()).extend([error] * times)

    def add_delay(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` before answering."""
        if times < 1:
            raise ValueError("times must be at least 1")
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._delays.setdefault(_key(method), deque()).extend([seconds] * times)

    def take(self, method: str) -> PlannedFault | None:
        """Consume the faults planned for one call of ``method`` (None if there are none)."""
        key = _key(method)
        with self._lock:
            errors = self._errors.get(key)
            delays = self._delays.get(key)
            error = errors.popleft() if errors else None
            delay = delays.popleft() if delays else 0.0
        if error is None and delay == 0.0:
            return None
        return PlannedFault(delay=delay, error=error)

    def clear(self) -> None:
        """Forget every planned fault."""
        with self._lock:
            self._errors.clear()
            self._delays.clear()
