"""crocotel's own diagnostics: one stderr channel, rate-limited, never exported.

The SDK's and exporters' loggers (``opentelemetry.*``) and ours (``crocotel.*``)
stop propagating to the root logger: their records go only to stderr through
:class:`DiagnosticsHandler`. That keeps exporter failures out of the app's log
pipeline (no recursion into OTLP logs) and lets us rate-limit them, so a missing
Collector costs one warning per minute per exporter instead of a log storm.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["INTERVAL_S", "install", "problem", "warn"]

INTERVAL_S = 60.0
_OWNED = ("opentelemetry", "crocotel")
_log = logging.getLogger("crocotel")


class RateLimitFilter(logging.Filter):
    """Lets one record per key through per interval; counts the rest.

    Exporter loggers are keyed by logger name alone (every retry and failure of
    one exporter is the same news); other loggers by logger and message template.
    Records from ``crocotel`` itself at ERROR and above always pass: they are
    one-off configuration errors the operator must see.
    """

    def __init__(self, interval: float = INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._next: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("crocotel") and record.levelno >= logging.ERROR:
            return True
        if record.name.startswith("opentelemetry.exporter"):
            key = (record.name, "")
        else:
            key = (record.name, str(record.msg))
        now = self._clock()
        with self._lock:
            if now < self._next.get(key, 0.0):
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._next[key] = now + self._interval
            skipped = self._suppressed.pop(key, 0)
        if skipped:
            record.crocotel_suppressed = skipped
        return True


class DiagnosticsFormatter(logging.Formatter):
    """One line per record, prefixed and scrubbed, with a note of what was suppressed."""

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__("%(name)s %(levelname)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        try:
            text = record.getMessage() if record.name.startswith("crocotel") else super().format(record)
        except Exception:  # a broken record must not break the bot
            text = f"{record.name} {record.levelname}: {record.msg!s}"
        skipped = getattr(record, "crocotel_suppressed", 0)
        if skipped:
            text += f" ({skipped} similar messages suppressed)"
        if record.name.startswith("opentelemetry.exporter") and record.levelno >= logging.WARNING:
            text += f" (repeats shown at most every {INTERVAL_S:.0f} s)"
        if not text.startswith("crocotel"):
            text = "crocotel: " + text
        text = text.replace("\n", " | ")
        if self.redact is not None:
            try:
                text = self.redact(text)
            except Exception:
                text = "crocotel: a diagnostic message was dropped because it could not be redacted"
        return text


class DiagnosticsHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler for crocotel's and the SDK's own loggers.

    Like logging's handler of last resort it writes to whatever ``sys.stderr`` is at
    the time, so an app (or a test) that swaps stderr later still gets the lines.
    """

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RateLimitFilter())
        self.setFormatter(DiagnosticsFormatter())

    @property
    def stream(self) -> TextIO:
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """Ignored: the stream is always the current ``sys.stderr``."""

    def handleError(self, record: logging.LogRecord) -> None:
        """Swallow write errors (closed stderr): diagnostics must never raise."""


_handler: DiagnosticsHandler | None = None


def install(redact: Callable[[str], str] | None = None) -> DiagnosticsHandler:
    """Route ``opentelemetry.*`` and ``crocotel.*`` records to stderr only; idempotent."""
    global _handler
    if _handler is None:
        _handler = DiagnosticsHandler()
        for name in _OWNED:
            logger = logging.getLogger(name)
            logger.addHandler(_handler)
            logger.propagate = False
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.WARNING)
    formatter = _handler.formatter
    if isinstance(formatter, DiagnosticsFormatter) and redact is not None:
        formatter.redact = redact
    return _handler


def problem(message: str) -> None:
    """Report a crocotel problem the operator must act on (never rate-limited)."""
    install()
    _log.error(message)


def warn(message: str) -> None:
    """Report something the operator should know that did not stop anything."""
    install()
    _log.warning(message)
