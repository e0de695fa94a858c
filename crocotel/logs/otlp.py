"""The OTLP log bridge: stdlib ``logging`` records become OpenTelemetry log records.

Trace context travels in the record's own fields (taken from the current context), so the
record carries no ``otelTraceID``/``trace_id`` attributes that would only repeat it. Records
from ``opentelemetry.*`` and ``crocotel.*`` loggers, and records made while instrumentation is
suppressed (the SDK's export threads do that), are never exported: exporting the exporter's
own diagnostics would feed the pipeline back into itself.
"""

from __future__ import annotations

import logging

from opentelemetry._logs import Logger as OtelLogger
from opentelemetry._logs import LoggerProvider, LogRecord, SeverityNumber
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.util.types import AnyValue

from crocotel.logs.fields import extras_of
from crocotel.logs.handler import ROLE
from crocotel.logs.plain import plain
from crocotel.logs.records import state_of
from crocotel.redaction.logs import mark_redacted

__all__ = ["IGNORED_PREFIXES", "OtlpHandler", "ignored", "severity"]

# Loggers whose records stay out of the pipeline (the logger itself and its children).
IGNORED_PREFIXES = ("opentelemetry", "crocotel")

_MAX_CACHED = 4096
_BUCKETS = (
    SeverityNumber.TRACE,
    SeverityNumber.DEBUG,
    SeverityNumber.INFO,
    SeverityNumber.WARN,
    SeverityNumber.ERROR,
    SeverityNumber.FATAL,
)
# Severity text as OpenTelemetry displays it; other level names are kept as they are.
_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def severity(levelno: int) -> SeverityNumber:
    """OpenTelemetry severity for a stdlib level: DEBUG=10 -> DEBUG, 21 -> INFO2, 59 -> FATAL4.

    Each block of ten levels maps to one severity range; the first three steps above a named
    level take the next numbers of the range, the rest share its last one. Levels 1-9 (custom
    TRACE levels) are TRACE, 0 is UNSPECIFIED, and 60 or more is FATAL4.
    """
    if levelno <= 0:
        return SeverityNumber.UNSPECIFIED
    if levelno < 10:
        return SeverityNumber.TRACE
    if levelno >= 60:
        return SeverityNumber.FATAL4
    return SeverityNumber(_BUCKETS[levelno // 10].value + min(levelno % 10, 3))


def ignored(name: str) -> bool:
    """Whether records of logger ``name`` are kept out of OTLP export."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in IGNORED_PREFIXES)


class OtlpHandler(logging.Handler):
    """Emits records on a ``LoggerProvider``: body = the message, attributes = the extra fields
    plus ``code.*`` and ``exception.*``, severity mapped, trace context native.

    Records arrive redacted (:mod:`crocotel.logs.records`), and the log records made from them
    are marked so (:func:`crocotel.redaction.logs.mark_redacted`): the export wrapper then only
    checks their resource.

    The per-logger work (the ignore decision, the OpenTelemetry logger) is cached by logger name,
    and no handler lock is taken: the SDK logger is thread-safe and the lock would only make
    threads queue behind each other.
    """

    def __init__(
        self,
        logger_provider: LoggerProvider,
        *,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        setattr(self, ROLE, "otlp")
        self.logger_provider = logger_provider
        self._loggers: dict[str, OtelLogger | None] = {}
        self._severities: dict[int, SeverityNumber] = {}
        self._failed = False

    def _logger(self, name: str) -> OtelLogger | None:
        if name in self._loggers:
            return self._loggers[name]
        logger = None if ignored(name) else self.logger_provider.get_logger(name)
        if len(self._loggers) < _MAX_CACHED:
            self._loggers[name] = logger
        return logger

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit without the handler lock (see the class docstring)."""
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Translate and emit one record; never raises into the logging call."""
        try:
            logger = self._logger(record.name)
            if logger is None or not is_instrumentation_enabled():
                return
            logger.emit(self.translate(record))
        except Exception:
            self._report_failure()

    def translate(self, record: logging.LogRecord) -> LogRecord:
        """The OpenTelemetry log record for ``record`` (trace context from the current context)."""
        state = state_of(record)
        attributes: dict[str, AnyValue] = {}
        for key, value in extras_of(record.__dict__, state.app_ids):
            if key and value is not None:
                attributes[key] = plain(value)
        attributes["code.file.path"] = record.pathname
        attributes["code.function.name"] = record.funcName
        attributes["code.line.number"] = record.lineno
        if state.exception is not None:
            kind, message, trace = state.exception
            attributes["exception.type"] = kind
            attributes["exception.message"] = message
            attributes["exception.stacktrace"] = trace
        levelno = record.levelno
        number = self._severities.get(levelno)
        if number is None:
            number = self._severities[levelno] = severity(levelno)
        translated = LogRecord(
            timestamp=int(record.created * 1e9),
            severity_number=number,
            severity_text=_SEVERITY_TEXT.get(record.levelname, record.levelname),
            body=state.message(record),
            attributes=attributes,
        )
        mark_redacted(translated)
        return translated

    def _report_failure(self) -> None:
        """Say once, through the ``crocotel.logs`` logger (never exported), that records are lost."""
        if self._failed:
            return
        self._failed = True
        logging.getLogger("crocotel.logs").warning(
            "crocotel: OTLP log bridge failed to export a record; further failures are not reported",
            exc_info=True,
        )

    def flush(self) -> None:
        """Nothing to flush here: the provider's processors own their queues (flushed at shutdown)."""
