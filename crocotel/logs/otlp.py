"""The OTLP log bridge: stdlib ``logging`` records become OpenTelemetry log records.

Trace context travels in the record's own fields (taken from the current context), so the
record carries no ``otelTraceID``/``trace_id`` attributes that would only repeat it. Records
from ``opentelemetry.*`` and ``crocotel.*`` loggers, and records made while instrumentation is
suppressed (the SDK's export threads do that), are never exported: exporting the exporter's
own diagnostics would feed the pipeline back into itself.
"""

from __future__ import annotations

import logging
from time import time_ns
from typing import Any

from opentelemetry._logs import Logger as OtelLogger
from opentelemetry._logs import LoggerProvider, LogRecord, SeverityNumber
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.util.types import AnyValue

from crocotel.current import current_context
from crocotel.logs.fields import extras_of
from crocotel.logs.handler import ROLE
from crocotel.logs.plain import plain
from crocotel.logs.records import RecordState, state_of
from crocotel.redaction.logs import mark_redacted
from crocotel.span_context import FLAGS, SPAN_ID, TRACE_ID, fields_of

__all__ = ["IGNORED_PREFIXES", "BridgedRecord", "OtlpHandler", "ignored", "severity"]

# Loggers whose records stay out of the pipeline (the logger itself and its children).
IGNORED_PREFIXES = ("opentelemetry", "crocotel")

_MAX_CACHED = 4096
_SCALARS = frozenset((str, int, float, bool))
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


try:  # the keys is_instrumentation_enabled() reads, to read both from one context lookup
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN

    def _instrumentation_enabled() -> bool:
        """``is_instrumentation_enabled()`` in one Python call instead of five (once per record)."""
        context = current_context()
        return not (
            context.get(_SUPPRESS_INSTRUMENTATION_KEY) or context.get(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN)
        )

except ImportError:  # keys moved: the public check
    _instrumentation_enabled = is_instrumentation_enabled


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


def _attributes(record: logging.LogRecord, state: RecordState) -> dict[str, AnyValue]:
    """The extra fields of ``record`` plus ``code.*`` and ``exception.*``."""
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
    return attributes


class _Route:
    """Where one SDK logger's records go: straight to its processors when every one of them takes
    a :class:`BridgedRecord`, else through the SDK logger.

    crocotel's encoding processors (:mod:`crocotel.processors`) check and encode a record as it
    arrives; handing them a bridged record skips the SDK's API record and its writable copy with
    bounded attributes (two objects and a validation pass per record). The route is rebuilt when
    the logger's processors, configuration or resource change (three identity tests per record),
    so a processor added later or a logger turned off sends records the SDK's way again.
    """

    __slots__ = (
        "config",
        "limits",
        "logger",
        "max_attributes",
        "metrics",
        "processors",
        "resource",
        "scope",
        "usable",
    )

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.processors: Any = _processors_of(logger)
        self.config = getattr(logger, "_logger_config", None)
        self.resource = getattr(logger, "_resource", None)
        self.scope = getattr(logger, "_instrumentation_scope", None)
        self.metrics: Any = getattr(logger, "_logger_metrics", None)
        self.limits = getattr(logger, "_log_record_limits", None)
        limit = getattr(self.limits, "max_log_record_attributes", -1)
        self.max_attributes = (1 << 30) if limit is None else limit
        self.usable = bool(
            self.processors
            and all(getattr(p, "takes_bridged_records", False) for p in self.processors)
            and getattr(self.config, "is_enabled", False)
            and self.metrics is not None
            and self.resource is not None
            and getattr(self.limits, "max_log_record_attribute_length", 0) is None  # else: values to cut
        )

    def fresh(self) -> bool:
        """Whether the logger still has the processors, configuration and resource seen here."""
        logger = self.logger
        return (
            _processors_of(logger) is self.processors
            and getattr(logger, "_logger_config", None) is self.config
            and getattr(logger, "_resource", None) is self.resource
        )


def _processors_of(logger: Any) -> Any:
    """The SDK logger's processors (a tuple the provider replaces when one is added)."""
    return getattr(getattr(logger, "_multi_log_record_processor", None), "_log_record_processors", None)


class BridgedRecord:
    """A log record as crocotel's processors read it: the fields of the SDK's readable record and
    of its API record in one small object (``log_record`` is itself). Made from an already
    redacted stdlib record, hence marked so (:func:`crocotel.redaction.logs.mark_redacted`)."""

    __slots__ = (
        "_crocotel_redacted",
        "attributes",
        "body",
        "instrumentation_scope",
        "limits",
        "observed_timestamp",
        "resource",
        "severity_number",
        "severity_text",
        "span_id",
        "timestamp",
        "trace_flags",
        "trace_id",
    )
    dropped_attributes = 0
    event_name = None
    context = None
    exception = None

    def __init__(
        self,
        timestamp: int,
        severity_number: SeverityNumber,
        severity_text: str,
        body: AnyValue,
        attributes: dict[str, AnyValue],
        span_context: Any,
        route: _Route,
    ) -> None:
        self.timestamp = timestamp
        self.observed_timestamp = time_ns()
        self.severity_number = severity_number
        self.severity_text = severity_text
        self.body = body
        self.attributes = attributes
        ids = fields_of(span_context)
        self.trace_id, self.span_id, self.trace_flags = ids[TRACE_ID], ids[SPAN_ID], ids[FLAGS]
        self.resource = route.resource
        self.instrumentation_scope = route.scope
        self.limits = route.limits
        mark_redacted(self)  # type: ignore[arg-type]

    @property
    def log_record(self) -> BridgedRecord:
        """The record itself: it holds the API record's fields too."""
        return self


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
        self._routes: dict[OtelLogger, _Route] = {}
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
            if logger is None or not _instrumentation_enabled():
                return
            route = self._route(logger)
            if route.usable:
                bridged = self._bridged(record, route)
                if bridged is not None:
                    route.metrics.emit_log()
                    for processor in route.processors:
                        processor.on_emit(bridged)
                    return
            logger.emit(self.translate(record))
        except Exception:
            self._report_failure()

    def _route(self, logger: OtelLogger) -> _Route:
        route = self._routes.get(logger)
        if route is None or not route.fresh():
            route = _Route(logger)
            if len(self._routes) < _MAX_CACHED:
                self._routes[logger] = route
        return route

    def translate(self, record: logging.LogRecord) -> LogRecord:
        """The OpenTelemetry log record for ``record`` (trace context from the current context)."""
        state = state_of(record)
        translated = LogRecord(
            timestamp=int(record.created * 1e9),
            severity_number=self._severity(record.levelno),
            severity_text=_SEVERITY_TEXT.get(record.levelname, record.levelname),
            body=state.message(record),
            attributes=_attributes(record, state),
        )
        mark_redacted(translated)
        return translated

    def _severity(self, levelno: int) -> SeverityNumber:
        number = self._severities.get(levelno)
        if number is None:
            number = self._severities[levelno] = severity(levelno)
        return number

    def _bridged(self, record: logging.LogRecord, route: _Route) -> BridgedRecord | None:
        """``record`` ready for crocotel's processors, or None when only the SDK can take it."""
        state = state_of(record)
        attributes = _attributes(record, state)
        if len(attributes) > route.max_attributes:
            return None  # limits or nested values: the SDK's record applies and cleans them
        for value in attributes.values():
            if value.__class__ not in _SCALARS:
                return None
        return BridgedRecord(
            int(record.created * 1e9),
            self._severity(record.levelno),
            _SEVERITY_TEXT.get(record.levelname, record.levelname),
            state.message(record),
            attributes,
            state.span_context,  # the logging call's span (or the one its exception escaped from)
            route,
        )

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
