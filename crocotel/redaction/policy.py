"""Redaction as one object: the engine plus the exporter and registry wrappers that apply it.

The bootstrap builds one :class:`Redaction` from the settings and hands it to every part that
exports something. With ``CROCOTEL_REDACT=off`` it builds :class:`NoRedaction`, whose wrappers
return what they are given and whose engine passes every value through, so no call site asks
whether redaction is on.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from crocotel.redaction.engine import NullRedactor, Redactor
from crocotel.redaction.logs import RedactingLogExporter
from crocotel.redaction.metrics import RedactingCollector, RedactingMetricExporter
from crocotel.redaction.spans import RedactingSpanExporter

__all__ = ["NoRedaction", "Redaction"]


class Redaction:
    """Redaction switched on: ``engine`` redacts values, the ``wrap_*`` methods redact exports."""

    def __init__(self, engine: Redactor) -> None:
        self.engine = engine

    def wrap_spans(self, exporter: SpanExporter) -> SpanExporter:
        """``exporter`` behind a wrapper that exports redacted copies of spans."""
        return RedactingSpanExporter(exporter, self.engine)

    def wrap_logs(self, exporter: LogRecordExporter) -> LogRecordExporter:
        """``exporter`` behind a wrapper that exports redacted copies of log records."""
        return RedactingLogExporter(exporter, self.engine)

    def wrap_metrics(self, exporter: MetricExporter) -> MetricExporter:
        """``exporter`` behind a wrapper that exports metrics with redacted attributes."""
        return RedactingMetricExporter(exporter, self.engine)

    def wrap_registry(self, registry: Any) -> Any:
        """A Prometheus collector that serves ``registry`` with redacted label values."""
        return RedactingCollector(registry, self.engine)


class NoRedaction(Redaction):
    """Redaction switched off (``CROCOTEL_REDACT=off``): everything passes unchanged."""

    def __init__(self) -> None:
        super().__init__(NullRedactor())

    def wrap_spans(self, exporter: SpanExporter) -> SpanExporter:
        """``exporter`` itself."""
        return exporter

    def wrap_logs(self, exporter: LogRecordExporter) -> LogRecordExporter:
        """``exporter`` itself."""
        return exporter

    def wrap_metrics(self, exporter: MetricExporter) -> MetricExporter:
        """``exporter`` itself."""
        return exporter

    def wrap_registry(self, registry: Any) -> Any:
        """``registry`` itself."""
        return registry
