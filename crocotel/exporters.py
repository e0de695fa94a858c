"""The upstream OTLP/HTTP span and log exporters, with crocotel's encoder in place of the SDK's.

Sending, retries, timeouts, TLS, compression and the exporters' self-metrics stay the
upstream exporter's own; only the step that turns a batch into bytes changes
(:mod:`crocotel.protobuf`, about four times faster per span). That step is reached through
the upstream exporter's private parts (``_client``, ``_metrics``, ``_shutdown``,
``_max_request_size`` in opentelemetry-exporter-otlp-proto-http 1.45); when a release no
longer has them, :func:`faster` hands back the exporter as it is, so an upgrade can cost
speed, never data.

The upstream exporter itself is made on its first export, in the export thread
(:class:`Deferred`): importing and building one (its protobuf messages, its HTTP client)
took about 30 ms of a bot's start-up. Only for the releases whose private parts this module
was written against (:func:`deferrable`); any other is made at start-up and checked there.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from crocotel import diagnostics
from crocotel.memory import NO_TRIM
from crocotel.protobuf import LogEncoder, SpanEncoder

__all__ = [
    "Deferred",
    "deferrable",
    "faster",
    "final_attempt_only",
    "plain_http_transport",
    "with_self_metrics",
]

_KNOWN_RELEASES = ("1.45.",)
"""Releases of opentelemetry-exporter-otlp-proto-http whose private parts (see above) are known."""

_ROUTED_ELSEWHERE = (
    *("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "NETRC"),
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_LOGS_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER",
)
"""Variables under which the upstream exporter's default transport (requests) would send
otherwise than a bare connection does: through a proxy, with netrc or a credential provider's
session."""


def plain_http_transport(exporter_class: type, endpoint: str) -> Any | None:
    """The upstream's own urllib3 transport for ``exporter_class`` when ``endpoint`` is plain
    HTTP and nothing would make its default transport behave differently; else ``None``.

    The default, requests, costs about 4 MB of memory and 15 ms of start-up (it loads a CA
    bundle when imported) that a plain-HTTP connection to a local Collector never uses. HTTPS
    keeps the default: requests verifies against certifi's bundle, urllib3 against the
    system's, which slim images may lack.
    """
    if not endpoint.lower().startswith("http://"):
        return None
    if any(os.environ.get(name) for name in _ROUTED_ELSEWHERE) or os.path.exists(
        os.path.expanduser("~/.netrc")
    ):
        return None
    try:
        if "_transport" not in inspect.signature(exporter_class).parameters:
            return None
        from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport

        return Urllib3HTTPTransport()
    except Exception:  # another release, urllib3 missing: the exporter's default
        return None


class _Channel:
    """Sends an encoded batch the way the upstream exporter would, self-metrics included."""

    def __init__(self, upstream: Any) -> None:
        self._upstream = upstream
        self._client = upstream._client
        self._metrics = upstream._metrics

    @staticmethod
    def usable(upstream: Any) -> bool:
        """Whether ``upstream`` has the parts this channel sends through."""
        client = getattr(upstream, "_client", None)
        metrics = getattr(upstream, "_metrics", None)
        return (
            callable(getattr(client, "export", None))
            and callable(getattr(metrics, "export_operation", None))
            and isinstance(getattr(upstream, "_shutdown", None), bool)
        )

    def _stopping(self) -> bool:
        """Whether the upstream client was told to stop retrying (shutdown has begun)."""
        event = getattr(self._client, "_shutdown_event", None)
        return isinstance(event, threading.Event) and event.is_set()

    def send(self, batch: Sequence[Any], encode: Callable[[Sequence[Any]], bytes]) -> bool:
        """Encode and post ``batch``; False when it was not delivered."""
        upstream = self._upstream
        if upstream._shutdown:
            return False
        with self._metrics.export_operation(len(batch)) as result:
            try:
                data = encode(batch)
            except Exception as error:  # counted as a failed export by the self-metrics
                result.error = error
                return False
            limit = getattr(upstream, "_max_request_size", 0) or 0
            if limit > 0 and len(data) > limit:
                result.error = ValueError(f"request of {len(data)} bytes is over max_request_size {limit}")
                return False
            stopping = self._stopping()
            outcome = self._client.export(data)
            if not outcome.success and not stopping and self._stopping():
                # The bot began to stop while this batch waited out a retry, and the exporter
                # gave up on it at once. One final attempt, as every later batch gets one
                # (``Telemetry._final_attempt_only``): a Collector that came back meanwhile
                # still receives it.
                outcome = self._client.export(data)
            if not outcome.success:
                result.error = outcome.error
                code = outcome.status_code
                result.error_attrs = {"http.response.status_code": code} if code is not None else None
                return False
        return True


def deferrable() -> bool:
    """Whether the installed OTLP/HTTP exporter is a release this module knows, so that it can
    be made on first use (told by its version module, without importing the exporters)."""
    try:
        from opentelemetry.exporter.otlp.proto.http.version import __version__
    except Exception:
        return False
    return isinstance(__version__, str) and __version__.startswith(_KNOWN_RELEASES)


def with_self_metrics(upstream: Any, signal: str, meter_provider: Any) -> Any:
    """``upstream`` counting its exports (``otel.sdk.exporter.*``) as it would have if made at
    start-up, where crocotel turns the SDK's self-metrics on for exporters while it builds them;
    made later, it finds them off (turning the variable on then would reach the application's
    tracers too). Left as it is on any surprise."""
    try:
        from opentelemetry.exporter.otlp.common._exporter_metrics import (
            NoOpExporterMetrics,
            create_exporter_metrics,
        )
        from opentelemetry.semconv._incubating.attributes.otel_attributes import OtelComponentTypeValues

        kinds = {
            "traces": OtelComponentTypeValues.OTLP_HTTP_SPAN_EXPORTER,
            "logs": OtelComponentTypeValues.OTLP_HTTP_LOG_EXPORTER,
        }
        if meter_provider is None:  # the global one, as the upstream exporter would take
            from opentelemetry.metrics import get_meter_provider

            meter_provider = get_meter_provider()
        if getattr(meter_provider, "_shutdown", False) is True:
            return upstream  # made during shutdown, after the meters stopped: nothing would be read
        if isinstance(upstream._metrics, NoOpExporterMetrics) and isinstance(upstream._endpoint, str):
            upstream._metrics = create_exporter_metrics(
                kinds[signal],
                "traces" if signal == "traces" else "logs",
                upstream._endpoint,
                meter_provider,
                True,
            )
    except Exception:
        pass
    return upstream


def _stop_retrying(upstream: Any) -> None:
    """Set the upstream exporter's own shutdown-in-progress event: its next export is one attempt."""
    holder = getattr(upstream, "_client", upstream)
    for name in ("_shutdown_event", "_shutdown_in_progress"):
        event = getattr(holder, name, None)
        if isinstance(event, threading.Event):
            event.set()


class Deferred:
    """An upstream exporter, made by ``make`` when first needed (its first export), at most once.

    A failure to make it is reported once and the signal is not exported; it never reaches
    the bot. Told to stop retrying or shut down before it exists, it is made that way or not
    at all.
    """

    def __init__(self, signal: str, make: Callable[[], Any]) -> None:
        self.signal = signal
        self._make: Callable[[], Any] | None = make
        self._made: Any = None
        self._lock = threading.Lock()
        self._final = False

    @classmethod
    def ready(cls, signal: str, upstream: Any) -> Deferred:
        """An exporter made already, in the same wrapper."""
        deferred = cls(signal, lambda: upstream)
        deferred.get()
        return deferred

    def get(self) -> Any:
        """The exporter, made now if it was not yet; ``None`` after a failure or a shutdown first."""
        made = self._made
        if made is not None or self._make is None:
            return made
        with self._lock:
            make, self._make = self._make, None
            if make is None:
                return self._made
            try:
                made = make()
            except Exception as error:
                diagnostics.problem(
                    f"crocotel: the OTLP {self.signal} exporter could not be made "
                    f"({type(error).__name__}); {self.signal} are not exported"
                )
                return None
            if self._final:
                _stop_retrying(made)
            self._made = made
            return made

    def final_attempt_only(self) -> None:
        """Make the exporter's next export its last attempt (now, or when it is made)."""
        with self._lock:
            self._final = True
            if self._made is not None:
                _stop_retrying(self._made)

    def shutdown(self) -> None:
        """Shut the exporter down; one never made is then never made."""
        with self._lock:
            self._make = None
            made = self._made
        if made is not None:
            made.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the exporter, if it exists."""
        made = self._made
        return True if made is None else bool(made.force_flush(timeout_millis))


def final_attempt_only(exporter: Any) -> None:
    """Make ``exporter`` (an upstream exporter or a :class:`Deferred` one) try once more at most."""
    if isinstance(exporter, Deferred):
        exporter.final_attempt_only()
    else:
        _stop_retrying(exporter)


class _Encoding:
    """What both encoding exporters share: the upstream exporter, its channel, an encoder, and
    what runs after each batch (:mod:`crocotel.memory`'s heap trim)."""

    def __init__(
        self, upstream: Deferred, encoder: SpanEncoder | LogEncoder, after_batch: Callable[[], None]
    ) -> None:
        self.upstream = upstream
        self.encoder = encoder
        self._after_batch = after_batch
        self._channel: _Channel | None = None
        self._refused = False

    def _connected(self) -> _Channel | None:
        """The channel through the upstream exporter, made with it on first use."""
        upstream = None if self._refused else self.upstream.get()
        if upstream is None:
            return None
        if not _Channel.usable(upstream):  # a known release without the parts it should have
            self._refused = True  # reported once
            signal = self.upstream.signal
            diagnostics.problem(
                f"crocotel: the OTLP {signal} exporter lacks the parts crocotel sends through; "
                f"{signal} are not exported (a crocotel bug: please report your "
                "opentelemetry-exporter-otlp-proto-http version)"
            )
            return None
        self._channel = _Channel(upstream)
        return self._channel

    def sent(self, batch: Sequence[Any]) -> bool:
        """Encode ``batch`` and send it through the upstream exporter's client."""
        channel = self._channel or self._connected()
        delivered = channel is not None and channel.send(batch, self.encoder.encode)
        self._after_batch()
        return delivered

    def shutdown(self) -> None:
        """Shut down the upstream exporter."""
        self.upstream.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the upstream exporter."""
        return self.upstream.force_flush(timeout_millis)


class _SpanExporter(_Encoding, SpanExporter):
    """An upstream OTLP/HTTP span exporter whose batches are encoded by :class:`SpanEncoder`."""

    def __init__(self, upstream: Deferred, after_batch: Callable[[], None] = NO_TRIM) -> None:
        super().__init__(upstream, SpanEncoder(), after_batch)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Encode and send through the upstream exporter's client."""
        return SpanExportResult.SUCCESS if self.sent(spans) else SpanExportResult.FAILURE


class _LogExporter(_Encoding, LogRecordExporter):
    """An upstream OTLP/HTTP log exporter whose batches are encoded by :class:`LogEncoder`."""

    def __init__(self, upstream: Deferred, after_batch: Callable[[], None] = NO_TRIM) -> None:
        super().__init__(upstream, LogEncoder(), after_batch)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Encode and send through the upstream exporter's client."""
        return LogRecordExportResult.SUCCESS if self.sent(batch) else LogRecordExportResult.FAILURE


def faster(exporter: Any, after_batch: Callable[[], None] = NO_TRIM) -> Any:
    """``exporter`` encoding with crocotel's encoder when it is an upstream OTLP/HTTP span or log
    exporter with the parts that takes, or a :class:`Deferred` one of a known release, calling
    ``after_batch`` after each batch; any other exporter (gRPC, console) as it is."""
    if isinstance(exporter, Deferred):
        made = _SpanExporter if exporter.signal == "traces" else _LogExporter
        return made(exporter, after_batch)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if not _Channel.usable(exporter):
        return exporter
    if isinstance(exporter, OTLPSpanExporter):
        return _SpanExporter(Deferred.ready("traces", exporter), after_batch)
    if isinstance(exporter, OTLPLogExporter):
        return _LogExporter(Deferred.ready("logs", exporter), after_batch)
    return exporter
