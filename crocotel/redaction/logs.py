"""A LogRecordExporter wrapper that exports redacted copies of log records.

In SDK 1.45 ``export()`` receives ``ReadableLogRecord`` (a frozen dataclass
holding an API ``LogRecord``, the resource and the scope). The copy gets a
new ``LogRecord`` with redacted body, attributes and event name; the live
``exception`` object is not carried over (the SDK has already turned it into
``exception.*`` attributes, which are redacted like any other).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from crocotel.redaction._common import ExportGate, ResourceCache, bounded, safe_text
from crocotel.redaction.engine import Redactor

__all__ = ["LogScrubber", "RedactingLogExporter", "mark_redacted"]

_SIGNAL = "logs"
_MARK = "_crocotel_redacted"


def mark_redacted(record: LogRecord) -> None:
    """Mark an OpenTelemetry log record as made from an already redacted ``logging`` record.

    crocotel's OTLP bridge makes its records from stdlib records that were redacted once, as
    they were logged (:mod:`crocotel.logs.records`); :class:`RedactingLogExporter` then checks
    only their resource. Records from anywhere else are redacted whole at export.
    """
    setattr(record, _MARK, True)


class LogScrubber:
    """Makes the redacted copy of a log record: body, attributes, event name, resource."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._resources = ResourceCache(redactor, _SIGNAL)

    def redact(self, readable: ReadableLogRecord) -> ReadableLogRecord:
        """The redacted copy of one record (``readable`` itself when clean).

        Records from crocotel's logging bridge were redacted as they were logged (see
        :func:`mark_redacted`); only their resource is checked here.
        """
        record = readable.log_record
        if getattr(record, _MARK, False):
            resource = self._resources.get(readable.resource)
            if resource is readable.resource:
                return readable
        body = self._redactor.value(record.body, _SIGNAL)
        attrs = self._redactor.attributes(record.attributes, _SIGNAL)
        event_name = safe_text(self._redactor, record.event_name, _SIGNAL)
        resource = self._resources.get(readable.resource)
        if (
            body is record.body
            and attrs is record.attributes
            and event_name is record.event_name
            and resource is readable.resource
        ):
            return readable
        copy = LogRecord(
            timestamp=record.timestamp,
            observed_timestamp=record.observed_timestamp,
            context=record.context,
            severity_text=record.severity_text,
            severity_number=record.severity_number,
            body=_any_value(body),
            attributes=bounded(record.attributes, attrs, readable.dropped_attributes),
            event_name=event_name,
        )
        copy.trace_id = record.trace_id
        copy.span_id = record.span_id
        copy.trace_flags = record.trace_flags
        return ReadableLogRecord(
            log_record=copy,
            resource=resource,
            instrumentation_scope=readable.instrumentation_scope,
            limits=readable.limits,
        )


class RedactingLogExporter(LogRecordExporter):
    """Passes redacted copies of each log record to ``inner``; never raises from redaction."""

    def __init__(self, inner: LogRecordExporter, redactor: Redactor, gate: ExportGate | None = None) -> None:
        self._inner = inner
        self._redactor = redactor
        self._scrubber = LogScrubber(redactor)
        self._gate = gate or ExportGate()

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Redact, then export through ``inner``; a record that cannot be redacted is dropped.

        After shutdown gave up (see :class:`~crocotel.redaction._common.ExportGate`) batches are
        dropped unexported.
        """
        redacted = self._gate.redact_all(batch, self._scrubber.redact, self._redactor, _SIGNAL)
        if redacted is None:
            return LogRecordExportResult.FAILURE
        return self._inner.export(redacted)

    def shutdown(self) -> None:
        """Shut down ``inner``."""
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush ``inner``."""
        return self._inner.force_flush(timeout_millis)


def _any_value(value: object) -> Any:
    """The redacted body typed as the SDK's AnyValue (it is one by construction)."""
    return value
