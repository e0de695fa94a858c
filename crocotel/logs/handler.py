"""crocotel's stdout handler: a root handler that writes only what the application would not.

It behaves like Python's "handler of last resort", with crocotel's format and level: a
record is written only when no handler of the application lies on the record's way up to
the root logger. So an application that configures its own output, before or after crocotel,
by ``basicConfig``, ``dictConfig`` or ``addHandler``, keeps it, and nothing is written twice.
"""

from __future__ import annotations

import logging
from typing import TextIO

from opentelemetry.sdk._logs import LoggingHandler

from crocotel.logs.formatters import CrocotelFormatter

__all__ = ["ROLE", "StdoutHandler", "app_handles", "is_crocotel"]

# The attribute that marks crocotel's handlers, so they can be found, skipped and removed.
ROLE = "crocotel_role"


def is_crocotel(handler: logging.Handler) -> bool:
    """Whether ``handler`` was installed by crocotel."""
    return getattr(handler, ROLE, None) is not None


def _passive(handler: logging.Handler, on_root: bool) -> bool:
    """Handlers that do not show records to anyone, so they do not count as the app's output.

    Ours, OpenTelemetry's OTLP ``LoggingHandler`` (the SDK's, or the one
    opentelemetry-instrumentation-logging adds), and the ``NullHandler`` that libraries put on
    their own loggers by convention. A ``NullHandler`` on the root logger is an application's
    explicit "no output" and does count.
    """
    if getattr(handler, ROLE, None) is not None or isinstance(handler, LoggingHandler):
        return True
    kind = type(handler)
    if kind.__name__ == "LoggingHandler" and kind.__module__.startswith("opentelemetry."):
        return True
    return type(handler) is logging.NullHandler and not on_root


def app_handles(name: str) -> bool:
    """Whether a record from logger ``name`` meets an application handler on its way to root.

    Runs for every record: the usual path (no handlers below root, only crocotel's on root)
    costs a dictionary lookup and a few attribute reads.
    """
    root = logging.root
    node = root.manager.loggerDict.get(name)
    if isinstance(node, logging.Logger):
        logger: logging.Logger | None = node
        while logger is not root and logger is not None:
            if logger.handlers and any(not _passive(h, False) for h in logger.handlers):
                return True
            logger = logger.parent
    for handler in root.handlers:
        if getattr(handler, ROLE, None) is None and not _passive(handler, True):
            return True
    return False


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes crocotel-formatted lines to a stream (stdout) when the application does not."""

    def __init__(self, stream: TextIO, formatter: CrocotelFormatter) -> None:
        super().__init__(stream)
        self.setFormatter(formatter)
        setattr(self, ROLE, "stdout")
        self.line_formatter = formatter

    def handle(self, record: logging.LogRecord) -> bool:
        """Step aside when an application handler has the record; else format, then write.

        Formatting happens outside the handler lock, so threads only queue for the write.
        """
        if app_handles(record.name) or (self.filters and not self.filter(record)):
            return False
        try:
            line = self.line_formatter.format(record)
        except Exception:  # only a formatter replaced by a broken subclass gets here
            self.handleError(record)
            return False
        with self.lock:  # type: ignore[union-attr]
            self._write(record, line)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Format and write one record (for callers that use ``emit`` directly)."""
        self._write(record, self.line_formatter.format(record))

    def _write(self, record: logging.LogRecord, line: str) -> None:
        """Write one line and flush; a line the stream cannot encode (a lone surrogate, a
        non-UTF-8 stream) is written with escapes instead of being lost."""
        try:
            stream = self.stream
            try:
                stream.write(line + "\n")
            except UnicodeEncodeError:
                stream.write(self.line_formatter.ascii_safe(line) + "\n")
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
