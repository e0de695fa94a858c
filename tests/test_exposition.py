"""The /metrics exposition: same names and values as the upstream Prometheus exporter, plus exemplars."""

from __future__ import annotations

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from crocotel import metrics as metric_views
from crocotel.cardinality import CardinalityGuard


def record(provider: MeterProvider) -> None:
    meter = provider.get_meter("app", "1.2")
    meter.create_histogram("app.work.duration", unit="s").record(0.042, {"step": "handler", "n": 3})
    meter.create_counter("app.requests", unit="{request}").add(5, {"ok": True})
    meter.create_up_down_counter("app.queue", unit="By").add(7)
    meter.create_histogram("app.size", unit="KiBy").record(12)
    meter.create_counter("app.rate", unit="m/s").add(1)
    meter.create_observable_gauge("app.ratio", callbacks=[lambda _o: []], unit="1")


def samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if v != "")), s.value)
        for family in parse_text(text)
        for s in family.samples
    }


def test_same_series_as_the_upstream_exporter() -> None:
    resource = Resource.create({"service.name": "svc"})
    upstream_registry = CollectorRegistry(auto_describe=False)
    upstream = PrometheusMetricReader(registry=upstream_registry)
    ours, our_registry = metric_views.prometheus_reader()
    provider = MeterProvider(metric_readers=[upstream, ours], resource=resource, views=metric_views.views())
    record(provider)
    theirs = samples(generate_latest(upstream_registry).decode())
    mine = samples(generate_latest(our_registry).decode())
    assert {s for s in theirs if s[0].startswith("app_")} == {s for s in mine if s[0].startswith("app_")}
    assert {s for s in theirs if s[0] == "target_info"} == {s for s in mine if s[0] == "target_info"}
    provider.shutdown()


def test_exemplars_only_inside_sampled_spans_and_only_in_openmetrics() -> None:
    reader, registry = metric_views.prometheus_reader()
    provider = MeterProvider(metric_readers=[reader], views=metric_views.views())
    tracer = TracerProvider().get_tracer("t")
    histogram = provider.get_meter("app").create_histogram("app.latency", unit="s")
    counter = provider.get_meter("app").create_counter("app.hits")
    histogram.record(3.0)  # outside a span: no exemplar
    with tracer.start_as_current_span("work") as span:
        histogram.record(0.042)
        counter.add(1)
        context = span.get_span_context()
    text = generate_openmetrics(registry).decode()
    trace_id, span_id = f"{context.trace_id:032x}", f"{context.span_id:016x}"
    exemplar = f'# {{span_id="{span_id}",trace_id="{trace_id}"}}'
    lines = [line for line in text.splitlines() if exemplar in line]
    assert [line.split(" ")[0] for line in lines] == [
        'app_latency_seconds_bucket{le="0.05",otel_scope_name="app"}',
        'app_hits_total{otel_scope_name="app"}',
    ]
    assert "trace_id" not in generate_latest(registry).decode()
    provider.shutdown()


def test_guard_folds_new_series_into_one_overflow_series() -> None:
    from opentelemetry.sdk.metrics._internal._view_instrument_match import _ViewInstrumentMatch

    before = _ViewInstrumentMatch.__init__
    guard = CardinalityGuard(3)
    guard.install()
    try:
        reader, registry = metric_views.prometheus_reader()
        provider = MeterProvider(metric_readers=[reader])
        histogram = provider.get_meter("app").create_histogram("app.latency", unit="s")
        for i in range(10):
            histogram.record(0.1, {"user": str(i)})
        found = samples(generate_latest(registry).decode())
        counts = {labels: value for name, labels, value in found if name == "app_latency_seconds_count"}
        assert counts == {
            (("otel_scope_name", "app"), ("user", "0")): 1.0,
            (("otel_scope_name", "app"), ("user", "1")): 1.0,
            (("otel_metric_overflow", "true"), ("otel_scope_name", "app")): 8.0,
        }
        assert guard.overflowed() == {"app.latency": 8}
        provider.shutdown()
    finally:
        guard.uninstall()
    assert _ViewInstrumentMatch.__init__ is before  # the class exactly as it was
