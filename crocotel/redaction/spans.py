"""A SpanExporter wrapper that exports redacted copies of spans.

Spans are immutable once ended, so the copy is made at export time, on the
batch thread and off the bot's hot path. A span with nothing to redact is
passed on as is (no copy).
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status, StatusCode

from crocotel.redaction._common import ExportGate, ResourceCache, bounded
from crocotel.redaction.engine import ERROR, Redactor

__all__ = ["RedactingSpanExporter", "SpanScrubber"]

_SIGNAL = "traces"


class _RedactedSpan(ReadableSpan):
    """A ReadableSpan copy that reports the original's dropped counts."""

    def __init__(
        self, original: ReadableSpan, dropped_events: int, dropped_links: int, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._original_dropped = (original.dropped_attributes, dropped_events, dropped_links)

    @property
    def dropped_attributes(self) -> int:
        return self._original_dropped[0]

    @property
    def dropped_events(self) -> int:
        return self._original_dropped[1]

    @property
    def dropped_links(self) -> int:
        return self._original_dropped[2]


class SpanScrubber:
    """Makes the redacted copy of a span: name, attributes, events, links, status, resource."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._resources = ResourceCache(redactor, _SIGNAL)

    def redact(self, span: ReadableSpan) -> ReadableSpan:
        """The redacted copy of one span (``span`` itself when clean)."""
        text = self._redactor.text
        name = text(span.name, _SIGNAL)
        original_attrs = span.attributes
        attrs = self._redactor.attributes(original_attrs, _SIGNAL)
        original_events = span.events
        original_links = span.links
        # most spans have neither events nor links: no lists and no comparisons for them
        events = [self._event(event) for event in original_events] if original_events else []
        links = [self._link(link) for link in original_links] if original_links else []
        status = self._status(span.status)
        resource = self._resources.get(span.resource)
        if (
            name is span.name
            and attrs is original_attrs
            and status is span.status
            and resource is span.resource
            and (not events or all(new is old for new, old in zip(events, original_events, strict=True)))
            and (not links or all(new is old for new, old in zip(links, original_links, strict=True)))
        ):
            return span
        return _RedactedSpan(
            span,
            span.dropped_events,
            span.dropped_links,
            name=name,
            context=span.context,
            parent=span.parent,
            resource=resource,
            attributes=bounded(original_attrs, attrs, span.dropped_attributes),
            events=events,
            links=links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def _event(self, event: Event) -> Event:
        name = self._redactor.text(event.name, _SIGNAL)
        attrs = self._redactor.attributes(event.attributes, _SIGNAL)
        if name is event.name and attrs is event.attributes:
            return event
        dropped = getattr(event, "dropped_attributes", 0)
        return Event(name, bounded(event.attributes, attrs, dropped), event.timestamp)

    def _link(self, link: Link) -> Link:
        attrs = self._redactor.attributes(link.attributes, _SIGNAL)
        if attrs is link.attributes:
            return link
        return Link(link.context, bounded(link.attributes, attrs, link.dropped_attributes))

    def _status(self, status: Status) -> Status:
        if not status.description:
            return status
        description = self._redactor.text(status.description, _SIGNAL)
        if description is status.description:
            return status
        if status.status_code is not StatusCode.ERROR:
            return Status(status.status_code)
        return Status(StatusCode.ERROR, description if description else ERROR)


class RedactingSpanExporter(SpanExporter):
    """Passes redacted copies of each span to ``inner``; never raises from redaction."""

    def __init__(self, inner: SpanExporter, redactor: Redactor, gate: ExportGate | None = None) -> None:
        self._inner = inner
        self._redactor = redactor
        self._scrubber = SpanScrubber(redactor)
        self._gate = gate or ExportGate()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Redact, then export through ``inner``; a span that cannot be redacted is dropped.

        After shutdown gave up (see :class:`ExportGate`) batches are dropped unexported.
        """
        redacted = self._gate.redact_all(spans, self._scrubber.redact, self._redactor, _SIGNAL)
        if redacted is None:
            return SpanExportResult.FAILURE
        return self._inner.export(redacted)

    def shutdown(self) -> None:
        """Shut down ``inner``."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush ``inner``."""
        return self._inner.force_flush(timeout_millis)
