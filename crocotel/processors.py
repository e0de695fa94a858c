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
from opentelemetry.trace import TraceFlags

from crocotel.exporters import faster
from crocotel.memory import NO_TRIM
from crocotel.protobuf import Encoded
from crocotel.redaction.policy import Redaction
from crocotel.span_context import FLAGS, fields_of

__all__ = ["log_processor", "span_processor"]


class _EncodingSpanProcessor(SpanProcessor):
    """Hands ``batch``'s queue each sampled span as an :class:`Encoded` when it ends, redacted by
    ``encode`` as it writes it (no redacted copy of the span is made)."""

    def __init__(
        self,
        batch: BatchSpanProcessor,
        queue: Callable[[Any], None],
        encode: Callable[[ReadableSpan], Encoded],
        failed: Callable[[], None],
    ) -> None:
        self._batch = batch
        self._queue = queue
        self._encode = encode
        self._failed = failed

    def on_start(self, span: Span, parent_context: context_api.Context | None = None) -> None:
        """Nothing at start."""

    def on_end(self, span: ReadableSpan) -> None:
        """Redact and encode, then queue; a span that cannot be redacted is dropped and counted."""
        context = span.context
        if context is None or not fields_of(context)[FLAGS] & TraceFlags.SAMPLED:
            return
        try:
            item = self._encode(span)
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
    exporter: Any,
    redaction: Redaction,
    queue_size: int,
    meter_provider: MeterProvider | None,
    after_batch: Callable[[], None] = NO_TRIM,
) -> SpanProcessor:
    """The batch processor for ``exporter``: encoding as spans end when the exporter allows it,
    calling ``after_batch`` after each batch it sends."""
    made: SpanProcessor = _processor(
        exporter,
        after_batch,
        queue_size,
        meter_provider,
        BatchSpanProcessor,
        lambda batch, queue, fast: _EncodingSpanProcessor(
            batch, queue, _redacting(fast.encoder, redaction), _failed(redaction, "traces")
        ),
        redaction.wrap_spans,
    )
    return made


def log_processor(
    exporter: Any,
    redaction: Redaction,
    queue_size: int,
    meter_provider: MeterProvider | None,
    after_batch: Callable[[], None] = NO_TRIM,
) -> LogRecordProcessor:
    """The batch processor for ``exporter``: encoding as records are emitted when it allows it,
    calling ``after_batch`` after each batch it sends."""
    made: LogRecordProcessor = _processor(
        exporter,
        after_batch,
        queue_size,
        meter_provider,
        BatchLogRecordProcessor,
        lambda batch, queue, fast: _EncodingLogProcessor(
            batch, queue, redaction.log_scrubber(), fast.encoder.item, _failed(redaction, "logs")
        ),
        redaction.wrap_logs,
    )
    return made


def _processor(
    exporter: Any,
    after_batch: Callable[[], None],
    queue_size: int,
    meter_provider: MeterProvider | None,
    batch_class: Callable[..., Any],
    encoding: Callable[[Any, Callable[[Any], None], Any], Any],
    wrap: Callable[[Any], Any],
) -> Any:
    """What both signals share: the encoding processor in front of the SDK's batch processor
    when the exporter allows it, else the SDK's batch processor over the redacting exporter.

    Encoded items go into the SDK's batch queue directly (its ``_batch_processor``): the public
    ``on_end``/``on_emit`` would check or copy the SDK's object first, the work the encoding
    processors exist to avoid. A release without that queue gets the SDK's own path.
    """
    fast = faster(exporter, after_batch)
    if fast is not exporter:
        batch = batch_class(fast, max_queue_size=queue_size, meter_provider=meter_provider)
        queue = getattr(getattr(batch, "_batch_processor", None), "emit", None)
        if callable(queue):
            return encoding(batch, queue, fast)
        batch.shutdown()  # no such queue: the SDK's path below
    return batch_class(wrap(fast), max_queue_size=queue_size, meter_provider=meter_provider)


def _redacting(encoder: Any, redaction: Redaction) -> Callable[[Any], Encoded]:
    """``encoder``'s ``item``, redacting every text of a span as it writes it
    (:meth:`crocotel.protobuf.SpanEncoder.redact_with`)."""
    encoder.redact_with(redaction.engine, "traces")
    item: Callable[[Any], Encoded] = encoder.item
    return item


def _failed(redaction: Redaction, signal: str) -> Callable[[], None]:
    """Counts an item dropped because it could not be redacted."""
    engine = redaction.engine
    return lambda: engine.count("error", signal)
