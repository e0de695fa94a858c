"""Redaction as one object: the engine plus the exporter and registry wrappers that apply it.

The bootstrap builds one :class:`Redaction` from the settings and hands it to every part that
exports something. With ``CROCOTEL_REDACT=off`` it builds :class:`NoRedaction`, whose wrappers
return what they are given and whose engine passes every value through, so no call site asks
whether redaction is on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from crocotel.redaction._common import ExportGate
from crocotel.redaction.engine import NullRedactor, Redactor
from crocotel.redaction.logs import LogScrubber, RedactingLogExporter
from crocotel.redaction.metrics import RedactingCollector, RedactingMetricExporter
from crocotel.redaction.spans import RedactingSpanExporter

__all__ = ["NoRedaction", "Redaction"]


class Redaction:
    """Redaction switched on: ``engine`` redacts values, the ``wrap_*`` methods redact exports."""

    def __init__(self, engine: Redactor) -> None:
        self.engine = engine
        self._gate = ExportGate()

    def wrap_spans(self, exporter: SpanExporter) -> SpanExporter:
        """``exporter`` behind a wrapper that exports redacted copies of spans."""
        return RedactingSpanExporter(exporter, self.engine, self._gate)

    def wrap_logs(self, exporter: LogRecordExporter) -> LogRecordExporter:
        """``exporter`` behind a wrapper that exports redacted copies of log records."""
        return RedactingLogExporter(exporter, self.engine, self._gate)

    def log_scrubber(self) -> Callable[[Any], Any]:
        """A function returning a log record's redacted copy (the record itself when clean)."""
        return LogScrubber(self.engine).redact

    def wrap_metrics(self, exporter: MetricExporter) -> MetricExporter:
        """``exporter`` behind a wrapper that exports metrics with redacted attributes."""
        return RedactingMetricExporter(exporter, self.engine, self._gate)

    def stop_exports(self, timeout: float = 0.5) -> bool:
        """Drop every later export batch and wait up to ``timeout`` s for those being redacted.

        Called when shutdown's deadline has passed: export threads still draining a queue must
        not be inside the engine's native code when the interpreter finalizes (see ExportGate),
        and neither may any other thread (a log record redacted on its way out, see
        :meth:`Redactor.seal`).
        """
        self.engine.seal()
        return self._gate.close(timeout)

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

    def log_scrubber(self) -> Callable[[Any], Any]:
        """The identity."""
        return _same

    def wrap_metrics(self, exporter: MetricExporter) -> MetricExporter:
        """``exporter`` itself."""
        return exporter

    def wrap_registry(self, registry: Any) -> Any:
        """``registry`` itself."""
        return registry

    def stop_exports(self, timeout: float = 0.5) -> bool:
        """Nothing to stop."""
        return True


def _same(item: Any) -> Any:
    return item
