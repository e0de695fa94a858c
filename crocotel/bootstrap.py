"""Build the tracer, meter and logger providers from one validated :class:`Settings`.

Both ways in (``opentelemetry-instrument`` through our configurator, and
``crocotel.configure()`` in code) end in :func:`configure`. Each part is built on
its own: a bad variable or a taken port switches off that part only, with one
clear line on stderr, and the rest keeps working.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import platform
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.environment_variables import OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace import sampling as samplers
from opentelemetry.sdk.trace.export import SpanExporter

from crocotel import diagnostics, lifecycle
from crocotel import metrics as metric_views
from crocotel._version import __version__
from crocotel.cardinality import CardinalityGuard
from crocotel.config import ConfigError, ConfigProblem, OtlpSettings, Settings, load
from crocotel.exporters import (
    Deferred,
    deferrable,
    final_attempt_only,
    plain_http_transport,
    with_self_metrics,
)
from crocotel.health import BOT, Health, report
from crocotel.memory import NO_TRIM, heap_trim
from crocotel.processors import log_processor, span_processor
from crocotel.redaction import Redactor, redact
from crocotel.redaction.policy import NoRedaction, Redaction
from crocotel.runtime import RuntimeMetrics, start_system_metrics, stop_system_metrics
from crocotel.server import PortInUseError, TelemetryServer, health_route, metrics_route
from crocotel.spans import LeanTracerProvider

__all__ = ["Telemetry", "configure", "current", "reset_telemetry"]


@dataclass
class Telemetry:
    """What :func:`configure` built; :meth:`shutdown` flushes it all within a deadline."""

    settings: Settings
    redaction: Redaction = field(default_factory=NoRedaction)
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    logger_provider: Any | None = None
    server: TelemetryServer | None = None
    exporters: list[Any] = field(default_factory=list)
    push_readers: list[MetricReader] = field(default_factory=list)
    uninstall_logs: Callable[[], None] | None = None
    health: Health | None = None
    guard: CardinalityGuard | None = None
    uninstall_errors: Callable[[], None] | None = None
    heap_trim: Callable[[], None] = NO_TRIM
    _closed: bool = False

    @property
    def metrics_url(self) -> str | None:
        """``http://host:port/metrics`` when the metrics server is up."""
        return f"{self.server.url}/metrics" if self.server is not None else None

    def _providers(self) -> list[Any]:
        return [p for p in (self.tracer_provider, self.logger_provider, self.meter_provider) if p is not None]

    def _final_attempt_only(self) -> None:
        """Make each OTLP exporter try once more and stop retrying.

        Upstream exporters back off for up to their timeout (10 s) when the
        Collector is down; at exit that only delays the bot's restart. Setting
        their own shutdown-in-progress event keeps the next export to a single
        attempt. Guarded: if a release renames the event, the deadline still holds.
        """
        for exporter in self.exporters:
            final_attempt_only(exporter)

    def _abort_exports(self) -> None:
        """Stop exporter retries so a flush past its deadline gives up at once."""
        for exporter in self.exporters:
            with contextlib.suppress(Exception):  # best effort at the deadline
                exporter.shutdown()

    def flush(self, timeout: float | None = None) -> bool:
        """Export what is buffered, in parallel per signal; ``False`` if the deadline passed.

        Only push readers are flushed: collecting the Prometheus reader outside a
        scrape would make the next scrape render every series twice.
        """
        limit = self.settings.shutdown_timeout if timeout is None else timeout
        tasks = [p.force_flush for p in (self.tracer_provider, self.logger_provider) if p is not None]
        tasks.extend(reader.force_flush for reader in self.push_readers)
        return lifecycle.run_parallel(tasks, limit)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop every provider and the server within ``timeout`` seconds; idempotent."""
        if self._closed:
            return True
        self._closed = True
        if self.uninstall_errors is not None:  # before the meter provider stops counting
            self.uninstall_errors()
        limit = self.settings.shutdown_timeout if timeout is None else timeout
        self._final_attempt_only()
        finished = lifecycle.run_parallel([p.shutdown for p in self._providers()], limit)
        if not finished:
            self.redaction.stop_exports()
            self._abort_exports()
            diagnostics.warn(
                f"crocotel: telemetry not fully flushed within CROCOTEL_SHUTDOWN_TIMEOUT={limit:g} s; "
                "the Collector may be unreachable"
            )
        if self.health is not None:
            self.health.stop()
        if self.server is not None:
            self.server.close()
        stop_system_metrics()
        if self.guard is not None:
            self.guard.uninstall()
        if self.uninstall_logs is not None:
            self.uninstall_logs()
        return finished


_lock = threading.Lock()
_current: Telemetry | None = None


def current() -> Telemetry | None:
    """The telemetry built by the last :func:`configure`, if any."""
    return _current


def configure(environ: dict[str, str] | None = None) -> Telemetry:
    """Validate the configuration and build every enabled part; idempotent.

    Raises :class:`ConfigError` only when ``CROCOTEL_STRICT=true`` and a variable
    is invalid, or the metrics port is taken; otherwise problems are reported on
    stderr and the affected part stays off.
    """
    global _current
    with _lock:
        if _current is not None:
            return _current
        settings = load(environ)
        diagnostics.install()
        # scrubbed: a bad value may hold a token, and the redactor is not built yet
        for problem in settings.problems:
            diagnostics.problem(redact(problem.message()))
        if settings.strict and settings.problems:
            raise ConfigError(settings.problems)
        telemetry = Telemetry(settings)
        if not settings.sdk_disabled:
            _build(telemetry)
        lifecycle.install(telemetry.shutdown, telemetry.flush)
        atexit.register(telemetry.shutdown)
        _current = telemetry
        return telemetry


def reset_telemetry() -> None:
    """Shut down and forget what :func:`configure` built, and the API's set-once globals.

    For test suites that configure crocotel more than once in a process (exposed as
    ``crocotel.testing.reset_telemetry``); the OpenTelemetry API itself has no public reset.
    """
    global _current
    from opentelemetry import _logs
    from opentelemetry.metrics import _internal as metrics_internal
    from opentelemetry.util._once import Once

    with _lock:
        if _current is not None:
            _current.shutdown(timeout=2.0)
        _current = None
    lifecycle.uninstall()
    trace_api._TRACER_PROVIDER_SET_ONCE = Once()
    trace_api._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None
    _logs._internal._LOGGER_PROVIDER_SET_ONCE = Once()
    _logs._internal._LOGGER_PROVIDER = None


def _build(t: Telemetry) -> None:
    with _component_self_metrics():
        _build_parts(t)


@contextlib.contextmanager
def _component_self_metrics() -> Iterator[None]:
    """``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED`` on while the batch processors and exporters
    are built, and as it was afterwards.

    The SDK reads the variable as each component is made. The processors' and exporters'
    self-metrics (queue, drops, exports) are what operators need; tracers and loggers, made
    later by the instrumentations, would add a metric operation per span and record (about
    9 µs per span in a profile of crocbot, even on a no-op meter), so they see it as the
    application set it (off unless set).
    """
    previous = os.environ.get(OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED)
    os.environ[OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED] = "true" if previous is None else previous
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED, None)


def _build_parts(t: Telemetry) -> None:
    s = t.settings
    if s.redact:
        t.redaction = Redaction(Redactor(hash_key=s.redact_hash_key))
        diagnostics.install(redact=t.redaction.engine.text)
    resource = _resource(s)
    t.heap_trim = heap_trim(s.heap_trim_interval)
    if s.metrics_enabled:
        t.guard = CardinalityGuard(s.cardinality_limit)
        t.guard.install()
        t.health = Health(s.health_loop_bound, s.ready_poll_window, s.ready_api_failure_window)
    t.meter_provider = _meter_provider(t, resource)
    if t.health is not None and t.guard is not None:
        _runtime(t, t.meter_provider, t.health, t.guard)
    if s.traces_enabled:
        t.tracer_provider = _tracer_provider(t, resource)
        trace_api.set_tracer_provider(t.tracer_provider)
    if s.logs_enabled:
        t.logger_provider = _logger_provider(t, resource)
    t.uninstall_logs = _install_logging(t)
    t.uninstall_errors = _install_errors(t)


_HOT_PATH_METERS = metrics_api.NoOpMeterProvider()
"""Meters for the SDK's per-span and per-record self-metrics (spans started and live, logs
created): three metric operations on the bot's thread for every span, about 5% of a bot's
CPU per update in a profile of crocbot. They stay off; the self-metrics operators need
(spans and logs dropped, queue size and capacity, exports) come from the batch processors
and exporters, which get the real meter provider."""


def _resource(s: Settings) -> Resource:
    attributes: dict[str, str] = dict(s.resource_attributes)
    attributes["service.name"] = s.service_name
    attributes.setdefault("service.instance.id", s.instance_id)
    env = attributes.get("deployment.environment.name") or attributes.get("deployment.environment")
    if env:
        attributes.setdefault("deployment.environment", env)
        attributes.setdefault("deployment.environment.name", env)
    attributes.setdefault("process.runtime.name", sys.implementation.name)
    attributes.setdefault("process.runtime.version", platform.python_version())
    attributes["telemetry.distro.name"] = "crocotel"
    attributes["telemetry.distro.version"] = __version__
    created = Resource.create(attributes)
    return _HashedResource(created.attributes, created.schema_url)


class _HashedResource(Resource):
    """A Resource that computes its hash once.

    The OTLP encoders group every batch by resource, hashing each span's and log record's
    resource; the SDK's ``Resource.__hash__`` serialises all attributes to JSON every time
    (about 1% of a plain bot's CPU per signal in a profile). A resource never changes, so one
    hash serves for its life.
    """

    def __init__(self, attributes: Any, schema_url: str | None = None) -> None:
        super().__init__(attributes, schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


def _sampler(s: Settings) -> samplers.Sampler:
    ratio = samplers.TraceIdRatioBased(s.sampler_arg)
    table: dict[str, samplers.Sampler] = {
        "always_on": samplers.ALWAYS_ON,
        "always_off": samplers.ALWAYS_OFF,
        "traceidratio": ratio,
        "parentbased_always_on": samplers.ParentBased(samplers.ALWAYS_ON),
        "parentbased_always_off": samplers.ParentBased(samplers.ALWAYS_OFF),
        "parentbased_traceidratio": samplers.ParentBased(ratio),
    }
    return table[s.sampler]


_OTLP_EXPORTERS = {
    ("grpc", "traces"): ("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "OTLPSpanExporter"),
    ("grpc", "logs"): ("opentelemetry.exporter.otlp.proto.grpc._log_exporter", "OTLPLogExporter"),
    ("grpc", "metrics"): ("opentelemetry.exporter.otlp.proto.grpc.metric_exporter", "OTLPMetricExporter"),
    ("http", "traces"): ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter"),
    ("http", "logs"): ("opentelemetry.exporter.otlp.proto.http._log_exporter", "OTLPLogExporter"),
    ("http", "metrics"): ("opentelemetry.exporter.otlp.proto.http.metric_exporter", "OTLPMetricExporter"),
}
"""The upstream exporter class per (protocol, signal), imported only when that one is used: each
module brings its protobuf messages (and gRPC its channel stack), memory a bot pays for nothing
when it exports that signal another way."""


def _otlp_exporter(signal: str, o: OtlpSettings, meter_provider: metrics_api.MeterProvider) -> Any:
    """The upstream OTLP exporter for one signal, over http/protobuf or gRPC; span and log
    exporters over http/protobuf of a known release are made on their first export."""
    grpc = o.protocol == "grpc"
    module, name = _OTLP_EXPORTERS[("grpc" if grpc else "http", signal)]

    def make() -> Any:
        exporter_class = getattr(importlib.import_module(module), name)
        options: dict[str, Any] = {"endpoint": o.endpoint, "headers": dict(o.headers), "timeout": o.timeout}
        if grpc:
            options["insecure"] = o.endpoint.startswith("http://")
        else:
            transport = plain_http_transport(exporter_class, o.endpoint)
            if transport is not None:
                options["_transport"] = transport
        if signal == "traces":
            options["meter_provider"] = meter_provider
        return exporter_class(**options)

    if not grpc and signal in ("traces", "logs") and deferrable():
        counted = os.environ.get(OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED, "").strip().lower() == "true"
        if not counted:  # what a deferred exporter would miss: see _component_self_metrics
            return Deferred(signal, make)
        own = meter_provider if signal == "traces" else None
        return Deferred(signal, lambda: with_self_metrics(make(), signal, own))
    return make()


def _meter_provider(t: Telemetry, resource: Resource) -> MeterProvider:
    s = t.settings
    readers: list[MetricReader] = []
    if "prometheus" in s.metrics_exporters:
        reader, registry = metric_views.prometheus_reader()
        routes = {"/metrics": metrics_route(t.redaction.wrap_registry(registry))}
        health = t.health
        if health is not None:
            routes["/healthz"] = health_route(lambda: report(health.liveness()))
            routes["/readyz"] = health_route(lambda: report(health.readiness()))
        try:
            t.server = TelemetryServer(s.prometheus_host, s.prometheus_port, routes)
            readers.append(reader)
        except PortInUseError as exc:
            diagnostics.problem(str(exc))
            if s.strict:
                port = ConfigProblem(
                    "OTEL_EXPORTER_PROMETHEUS_PORT", str(s.prometheus_port), "a free port", "metrics"
                )
                raise ConfigError((port,)) from exc
    exporters: list[MetricExporter] = []
    if "otlp" in s.metrics_exporters and s.metrics_otlp is not None:
        inner = _otlp_exporter("metrics", s.metrics_otlp, metrics_api.NoOpMeterProvider())
        t.exporters.append(inner)
        exporters.append(t.redaction.wrap_metrics(inner))
    if "console" in s.metrics_exporters:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        exporters.append(t.redaction.wrap_metrics(ConsoleMetricExporter()))
    t.push_readers = [
        PeriodicExportingMetricReader(e, export_interval_millis=s.metric_export_interval_ms)
        for e in exporters
    ]
    readers.extend(t.push_readers)
    provider = MeterProvider(
        metric_readers=readers, resource=resource, shutdown_on_exit=False, views=metric_views.views()
    )
    metrics_api.set_meter_provider(provider)
    _observe_redactions(provider, t.redaction.engine)
    return provider


def _runtime(t: Telemetry, provider: MeterProvider, health: Health, guard: CardinalityGuard) -> None:
    """Process and loop metrics, health as a gauge, self-metrics; then start watching the bot's loops."""
    server = t.server
    metrics = RuntimeMetrics(
        provider,
        loops=health.loops,
        checks=lambda: [(c.name, c.ok) for c in health.readiness()],
        client_errors=(lambda: dict(server.errors.counts)) if server is not None else dict,
        overflowed=guard.overflowed,
    )
    health.on_lag = metrics.record_lag
    start_system_metrics(provider)
    BOT.reset()
    health.start()


def _observe_redactions(provider: MeterProvider, redactor: Redactor) -> None:
    """Publish the engine's running counts as ``crocotel.redactions{kind, signal}``."""

    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(n, {"kind": kind, "signal": signal})
            for (kind, signal), n in redactor.counts().items()
        ]

    provider.get_meter("crocotel", __version__).create_observable_counter(
        "crocotel.redactions",
        callbacks=[observe],
        unit="{redaction}",
        description="Values scrubbed before leaving the process, by kind and signal",
    )


def _tracer_provider(t: Telemetry, resource: Resource) -> TracerProvider:
    s = t.settings
    assert t.meter_provider is not None
    provider = LeanTracerProvider(
        sampler=_sampler(s), resource=resource, shutdown_on_exit=False, meter_provider=_HOT_PATH_METERS
    )
    exporters: list[SpanExporter] = []
    if "otlp" in s.traces_exporters and s.traces_otlp is not None:
        exporters.append(_otlp_exporter("traces", s.traces_otlp, t.meter_provider))
    if "console" in s.traces_exporters:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporters.append(ConsoleSpanExporter())
    for exporter in exporters:
        t.exporters.append(exporter)
        processor = span_processor(exporter, t.redaction, s.span_queue_size, t.meter_provider, t.heap_trim)
        provider.add_span_processor(processor)
    return provider


def _logger_provider(t: Telemetry, resource: Resource) -> Any:
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

    s = t.settings
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False, meter_provider=_HOT_PATH_METERS)
    exporters: list[Any] = []
    if "otlp" in s.logs_exporters and s.logs_otlp is not None:
        exporters.append(_otlp_exporter("logs", s.logs_otlp, t.meter_provider))  # type: ignore[arg-type]
    if "console" in s.logs_exporters:
        exporters.append(ConsoleLogRecordExporter())
    for exporter in exporters:
        t.exporters.append(exporter)
        processor = log_processor(exporter, t.redaction, s.log_queue_size, t.meter_provider, t.heap_trim)
        provider.add_log_record_processor(processor)
    set_logger_provider(provider)
    return provider


def _install_logging(t: Telemetry) -> Callable[[], None]:
    from crocotel import logs

    return logs.install(
        log_format=t.settings.log_format,
        log_level=t.settings.log_level,
        service_name=t.settings.service_name,
        logger_provider=t.logger_provider,
        redactor=t.redaction.engine,
    )


def _install_errors(t: Telemetry) -> Callable[[], None]:
    """Error reporting: the hooks, the ``crocotel.errors`` counter, redacted error log lines."""
    from crocotel import errors

    return errors.install(
        meter_provider=t.meter_provider,
        redactor=t.redaction.engine,
        limit=t.settings.error_fingerprints,
    )
