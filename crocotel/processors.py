"""Span and log record processors: redacted and encoded as each one ends, then batched.

With the SDK's batch processors alone, every ended span waits in the queue as the SDK's
object (a dozen container objects: attributes, events, links, a lock) until its batch is
exported, up to five seconds later. That is long enough for the garbage collector to promote
all of it to the oldest generation, so each full collection scans it again and full
collections come more often; in crocbot with 16 updates in flight that was a third of
crocotel's added CPU. Here the span is redacted and written as protobuf
(:mod:`crocotel.protobuf`) when it ends, on the thread that ended it (about 15 µs), and the
SDK's batch processor queues a :class:`~crocotel.protobuf.Encoded` in its place, a tuple of
bytes and an int that the collector stops tracking at once: queue bound, scheduling, drop
counts and self-metrics stay the SDK's.

This applies to the OTLP/HTTP exporters that :func:`crocotel.exporters.faster` takes; for
any other exporter (gRPC, console) the SDK's objects are queued and redacted at export.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as context_api
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from crocotel.exporters import faster
from crocotel.protobuf import Encoded
from crocotel.redaction.policy import Redaction

__all__ = ["log_processor", "span_processor"]


class _EncodingSpanProcessor(SpanProcessor):
    """Hands ``batch``'s queue each sampled span as an :class:`Encoded`, redacted, when it ends."""

    def __init__(
        self,
        batch: BatchSpanProcessor,
        queue: Callable[[Any], None],
        redact: Callable[[ReadableSpan], ReadableSpan],
        encode: Callable[[ReadableSpan], Encoded],
        failed: Callable[[], None],
    ) -> None:
        self._batch = batch
        self._queue = queue
        self._redact = redact
        self._encode = encode
        self._failed = failed

    def on_start(self, span: Span, parent_context: context_api.Context | None = None) -> None:
        """Nothing at start."""

    def on_end(self, span: ReadableSpan) -> None:
        """Redact, encode and queue; a span that cannot be redacted is dropped and counted."""
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        try:
            item = self._encode(self._redact(span))
        except Exception:  # never exported unredacted
            self._failed()
            return
        self._queue(item)

    def shutdown(self) -> None:
        """Export what is queued and stop."""
        self._batch.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued."""
        return self._batch.force_flush(timeout_millis)


class _EncodingLogProcessor(LogRecordProcessor):
    """Hands ``batch``'s queue each log record as an :class:`Encoded`, redacted, when emitted.

    Reads only the fields every record has, so the logging bridge may hand it a
    :class:`crocotel.logs.otlp.BridgedRecord` instead of the SDK's record.
    """

    takes_bridged_records = True

    def __init__(
        self,
        batch: BatchLogRecordProcessor,
        queue: Callable[[Any], None],
        redact: Callable[[Any], Any],
        encode: Callable[[Any], Encoded],
        failed: Callable[[], None],
    ) -> None:
        self._batch = batch
        self._queue = queue
        self._redact = redact
        self._encode = encode
        self._failed = failed

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Redact, encode and queue; a record that cannot be redacted is dropped and counted."""
        try:
            item = self._encode(self._redact(log_record))
        except Exception:  # never exported unredacted
            self._failed()
            return
        self._queue(item)

    def shutdown(self) -> None:
        """Export what is queued and stop."""
        self._batch.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued."""
        return self._batch.force_flush(timeout_millis)


def span_processor(
    exporter: Any, redaction: Redaction, queue_size: int, meter_provider: MeterProvider | None
) -> SpanProcessor:
    """The batch processor for ``exporter``: encoding as spans end when the exporter allows it.

    Encoded spans go into the SDK's batch queue directly (its ``_batch_processor``), as log
    records do (:func:`log_processor`). A release without that queue gets the SDK's own path.
    """
    fast = faster(exporter)
    if fast is not exporter:
        batch = BatchSpanProcessor(fast, max_queue_size=queue_size, meter_provider=meter_provider)
        queue = _queue_of(batch)
        if queue is not None:
            engine = redaction.engine
            scrub = redaction.span_scrubber()
            return _EncodingSpanProcessor(
                batch, queue, scrub, fast.encoder.item, lambda: engine.count("error", "traces")
            )
        batch.shutdown()  # type: ignore[no-untyped-call]  # no such queue: the SDK's path below
    return BatchSpanProcessor(
        redaction.wrap_spans(fast), max_queue_size=queue_size, meter_provider=meter_provider
    )


def _queue_of(batch: Any) -> Callable[[Any], None] | None:
    """The SDK batch processor's own queue (``_batch_processor.emit``), if this release has it."""
    queue = getattr(getattr(batch, "_batch_processor", None), "emit", None)
    return queue if callable(queue) else None


def log_processor(
    exporter: Any, redaction: Redaction, queue_size: int, meter_provider: MeterProvider | None
) -> LogRecordProcessor:
    """The batch processor for ``exporter``: encoding as records are emitted when it allows it.

    Records go into the SDK's batch queue directly (its ``_batch_processor``): the public
    ``on_emit`` copies each record first, the work this processor exists to avoid. A release
    without that queue gets the SDK's own path.
    """
    fast = faster(exporter)
    if fast is not exporter:
        batch = BatchLogRecordProcessor(fast, max_queue_size=queue_size, meter_provider=meter_provider)
        queue = _queue_of(batch)
        if queue is not None:
            engine = redaction.engine
            scrub = redaction.log_scrubber()
            return _EncodingLogProcessor(
                batch, queue, scrub, fast.encoder.item, lambda: engine.count("error", "logs")
            )
        batch.shutdown()  # type: ignore[no-untyped-call]  # no such queue: the SDK's path below
    return BatchLogRecordProcessor(
        redaction.wrap_logs(fast), max_queue_size=queue_size, meter_provider=meter_provider
    )
