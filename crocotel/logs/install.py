"""Wiring crocotel's logging into the process: redacted records with ids, stdout lines, OTLP.

What is installed, for every format: the record hook that redacts each record once and stamps
``trace_id``/``span_id`` before any handler sees it (:mod:`crocotel.logs.records`), the OTLP
bridge on the root logger when a provider is given, and the ``basicConfig``/``dictConfig``/
``fileConfig`` wrappers that keep both working beside the application's own configuration.
For ``json``, ``text`` and ``logfmt`` also the stdout handler on the root logger. No logger's
level changes unless ``CROCOTEL_LOG_LEVEL`` is set (then the root level is that), because a
raised level changes what every handler of the application sees. ``none`` leaves output to
the application. See docs/logging.md for the rules.
"""

from __future__ import annotations

import codecs
import logging
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from opentelemetry._logs import LoggerProvider

from crocotel.logs.formatters import CrocotelFormatter, JsonFormatter, LogfmtFormatter, TextFormatter
from crocotel.logs.handler import StdoutHandler
from crocotel.logs.hooks import ConfigHooks
from crocotel.logs.otlp import OtlpHandler
from crocotel.logs.records import RecordHook, use_engine
from crocotel.redaction.engine import Redactor

__all__ = ["FORMATS", "LEVELS", "install", "make_formatter", "uninstall"]

FORMATS = ("json", "text", "logfmt", "none")
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
          "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}  # fmt: skip

_lock = threading.Lock()
_uninstall_current: Callable[[], None] | None = None


def _writes_unicode(stream: TextIO) -> bool:
    """Whether the stream's encoding can take any character (else JSON escapes non-ASCII)."""
    try:
        name = codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name
    except LookupError:
        return False
    return name.startswith("utf")


def make_formatter(log_format: str, *, service_name: str, stream: TextIO | None = None) -> CrocotelFormatter:
    """The formatter for ``json``, ``text`` or ``logfmt``."""
    if log_format == "json":
        ascii_only = stream is not None and not _writes_unicode(stream)
        return JsonFormatter(service_name=service_name, ensure_ascii=ascii_only)
    if log_format == "text":
        return TextFormatter(service_name=service_name)
    if log_format == "logfmt":
        return LogfmtFormatter(service_name=service_name)
    raise ValueError(f"no formatter for log format {log_format!r}")


def install(
    *,
    log_format: str,
    log_level: str | None,
    service_name: str,
    redactor: Redactor,
    logger_provider: LoggerProvider | None,
    stream: TextIO | None = None,
) -> Callable[[], None]:
    """Install crocotel logging and return the function that removes it again.

    ``redactor`` redacts every record (a :class:`~crocotel.redaction.engine.NullRedactor` when
    redaction is off); ``log_level`` None leaves every logger's level alone. A second call
    removes what the first installed before installing anew, so the latest settings win and
    nothing is doubled. ``stream`` defaults to ``sys.stdout`` at call time. Raises ValueError
    for a format or level that is not one of :data:`FORMATS`, :data:`LEVELS`.
    """
    global _uninstall_current
    if log_format not in FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    level = None if log_level is None else LEVELS.get(log_level.upper())
    if log_level is not None and level is None:
        raise ValueError(f"log_level must be one of {', '.join(LEVELS)}, not {log_level!r}")

    with _lock:
        if _uninstall_current is not None:
            _uninstall_current()
        root = logging.root
        use_engine(redactor)
        hook = RecordHook()
        handlers: list[logging.Handler] = []
        previous_level = root.level
        if level is not None:
            root.setLevel(level)
        if log_format != "none":
            out = stream if stream is not None else sys.stdout
            handlers.append(
                StdoutHandler(out, make_formatter(log_format, service_name=service_name, stream=out))
            )
        if logger_provider is not None:
            handlers.append(OtlpHandler(logger_provider))
        for handler in handlers:
            root.addHandler(handler)
        hooks = ConfigHooks() if handlers else None
        done = False

        def uninstall() -> None:
            """Remove what this install added; a no-op the second time."""
            global _uninstall_current
            nonlocal done
            if done:
                return
            done = True
            if hooks is not None:
                hooks.remove()
            for handler in handlers:
                root.removeHandler(handler)
                handler.flush()
            if level is not None and root.level == level:
                root.setLevel(previous_level)
            hook.remove()
            if _uninstall_current is uninstall:
                _uninstall_current = None

        _uninstall_current = uninstall
        return uninstall


def uninstall() -> None:
    """Remove whatever :func:`install` installed last, if anything (for tests and shutdown)."""
    with _lock:
        current = _uninstall_current
    if current is not None:
        current()
