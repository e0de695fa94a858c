"""Lean spans against the SDK's: the same calls give the same exported spans, and ended spans stay ended."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    ConcurrentMultiSpanProcessor,
    ReadableSpan,
    SpanLimits,
    SpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from crocotel import spans
from crocotel.code_shape import does_nothing
from crocotel.spans import SUPPORTED, LeanTracerProvider

Scenario = Callable[[trace.Tracer], None]
REMOTE = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))


def plain(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("update", kind=SpanKind.CONSUMER, attributes={"a": 1, "b": "x"}):
        with tracer.start_as_current_span("handler") as handler:
            handler.set_attribute("code.function.name", "echo")
            handler.set_attributes({"n": 2.5, "list": [1, 2], "flag": True})
        span = tracer.start_span("sendMessage", kind=SpanKind.CLIENT)
        span.update_name("sendMessage!")
        span.set_status(Status(StatusCode.OK))
        span.end()


def events_and_links(tracer: trace.Tracer) -> None:
    span = tracer.start_span("linked", links=[Link(REMOTE, {"why": "delivered"})])
    span.add_event("first", {"k": "v"})
    span.add_link(REMOTE, {"added": True})
    span.end()
    later = tracer.start_span("late link")
    later.add_link(REMOTE)
    later.end()


def links_at_start(tracer: trace.Tracer) -> None:
    invalid = trace.INVALID_SPAN_CONTEXT
    links = [Link(REMOTE), Link(invalid), Link(invalid, {"kept": "for its attributes"})]
    links += [Link(REMOTE, {"i": i}) for i in range(4)]
    tracer.start_span("many links", links=links).end()
    span = tracer.start_span("polled update", links=[Link(REMOTE)])
    span.add_link(REMOTE, {"after": True})
    span.end()


def exception(tracer: trace.Tracer) -> None:
    with pytest.raises(ValueError), tracer.start_as_current_span("fails"):
        raise ValueError("boom")
    span = tracer.start_span("recorded")
    span.record_exception(KeyError("k"), {"extra": 1})
    span.set_status(StatusCode.ERROR, "bad")
    span.end()


def over_limits(tracer: trace.Tracer) -> None:
    span = tracer.start_span("many", attributes={f"k{i}": "v" * 50 for i in range(5)})
    span.set_attributes({"": 1, "object": object(), "mixed": [1, "a"], "kept": ["x" * 30]})  # type: ignore[dict-item]
    for i in range(5):
        span.add_event(f"e{i}")
        span.add_link(REMOTE, {"i": i})
    span.end()


def after_end(tracer: trace.Tracer) -> None:
    span = tracer.start_span("ended", attributes={"kept": 1})
    span.end()
    span.set_attribute("late", 1)
    span.add_event("late")
    span.add_link(REMOTE)
    span.set_status(StatusCode.ERROR)
    span.update_name("renamed")
    span.end()


def remote_parent(tracer: trace.Tracer) -> None:
    parent = trace.set_span_in_context(trace.NonRecordingSpan(REMOTE))
    tracer.start_span("child of remote", parent, SpanKind.SERVER).end()


def attribute_updates(tracer: trace.Tracer) -> None:
    """Plain values set again (a set key moves to the end), odd values among them, a count past the limit."""
    span = tracer.start_span("updated", attributes={"a": 1, "b": "x", "c": True, "d": 0.5})
    span.set_attributes({"a": 2, "e": "y" * 40})
    span.set_attributes({"b": "z", "none": None, "pair": ("p", "q"), "kind": SpanKind.CLIENT})  # type: ignore[dict-item]
    span.set_attributes({"f": StatusCode.ERROR.value, "c": False, "": "empty key"})
    span.set_attributes({"d": 1.5})
    span.end()
    full = tracer.start_span("full", attributes={"first": 1})
    full.set_attributes({f"many{i}": i for i in range(130)})
    full.set_attributes({"last": "one"})
    full.end()


SCENARIOS = [
    plain,
    events_and_links,
    links_at_start,
    exception,
    over_limits,
    after_end,
    remote_parent,
    attribute_updates,
]
LIMITS = SpanLimits(max_span_attributes=3, max_events=2, max_links=2, max_attribute_length=20)


def run(provider_class: type[TracerProvider], scenario: Scenario, **options: Any) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = provider_class(resource=Resource({"service.name": "bot"}), **options)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    scenario(provider.get_tracer("crocotel.test", "1.0"))
    return list(exporter.get_finished_spans())


def comparable(spans: list[ReadableSpan]) -> ExportTraceServiceRequest:
    """The spans as the SDK encodes them, with ids and times (random in each run) cleared."""
    message = encode_spans(spans)
    ids: dict[bytes, bytes] = {}
    for resource in message.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                for field in ("span_id", "parent_span_id", "trace_id"):
                    value = getattr(span, field)
                    if value and value not in (
                        REMOTE.span_id.to_bytes(8, "big"),
                        REMOTE.trace_id.to_bytes(16, "big"),
                    ):
                        setattr(span, field, ids.setdefault(value, bytes([len(ids) + 1]) * len(value)))
                span.start_time_unix_nano = span.end_time_unix_nano = 1
                for event in span.events:
                    event.time_unix_nano = 1
                    for attribute in event.attributes:
                        if attribute.key == "exception.stacktrace":
                            attribute.value.string_value = "trace"
    return message


pytestmark = pytest.mark.skipif(
    not SUPPORTED, reason="the installed SDK builds spans differently: lean spans are off"
)


@pytest.mark.parametrize(
    "limits",
    [None, LIMITS, SpanLimits(max_attribute_length=20)],
    ids=["default limits", "tight limits", "length limit only"],
)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_lean_spans_export_what_sdk_spans_export(scenario: Scenario, limits: SpanLimits | None) -> None:
    options = {"span_limits": limits} if limits else {}
    sdk = run(TracerProvider, scenario, **options)
    lean = run(LeanTracerProvider, scenario, **options)
    assert sdk, "the scenario made no span"
    assert comparable(lean) == comparable(sdk)
    assert [s.dropped_attributes for s in lean] == [s.dropped_attributes for s in sdk]
    assert [s.dropped_events for s in lean] == [s.dropped_events for s in sdk]
    assert [s.dropped_links for s in lean] == [s.dropped_links for s in sdk]
    assert [s.to_json() for s in lean] != [], "to_json works on lean spans"


def test_lean_spans_are_sdk_spans_and_immutable_once_ended(caplog: pytest.LogCaptureFixture) -> None:
    [span] = run(LeanTracerProvider, after_end)
    assert isinstance(span, SdkSpan) and isinstance(span, ReadableSpan)
    assert span.name == "ended" and dict(span.attributes or {}) == {"kept": 1}
    assert span.events == () and span.links == () and span.status.status_code is StatusCode.UNSET
    with pytest.raises(TypeError):
        span.attributes["new"] = 1  # type: ignore[index]
    with caplog.at_level(logging.WARNING):
        run(LeanTracerProvider, after_end)
    assert "ended span" in caplog.text


def test_samplers_and_tracer_config_are_honoured() -> None:
    assert run(LeanTracerProvider, plain, sampler=ALWAYS_OFF) == []
    ratio = run(
        LeanTracerProvider,
        lambda t: [t.start_span(str(i)).end() for i in range(400)],
        sampler=TraceIdRatioBased(0.5),
    )
    assert 100 < len(ratio) < 300
    provider = LeanTracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("same")
    assert provider.get_tracer("same") is tracer, "the provider still hands out one tracer per scope"
    provider._set_tracer_configurator(
        tracer_configurator=lambda scope: type(tracer._tracer_config)(is_enabled=False)
    )  # type: ignore[attr-defined]
    tracer.start_span("off").end()
    assert exporter.get_finished_spans() == ()


PARENTS = {
    "no parent": None,
    "local sampled": SpanContext(0x1, 0x2, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
    "local not sampled": SpanContext(0x1, 0x2, is_remote=False, trace_flags=TraceFlags(0)),
    "remote sampled, trace state": SpanContext(
        0x1, 0x2, True, TraceFlags(TraceFlags.SAMPLED), TraceState([("k", "v")])
    ),
    "remote not sampled": SpanContext(0x1, 0x2, is_remote=True, trace_flags=TraceFlags(0)),
    "invalid": SpanContext(0, 0, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
}
SAMPLERS = {
    "parentbased_always_on": DEFAULT_ON,
    "parentbased_always_off": DEFAULT_OFF,
    "all static, odd choices": ParentBased(  # remote parents inverted, local ones followed
        ALWAYS_OFF, ALWAYS_OFF, ALWAYS_ON, ALWAYS_ON, local_parent_not_sampled=ALWAYS_OFF
    ),
    "parentbased_traceidratio": ParentBased(TraceIdRatioBased(1.0)),
}


def started(
    provider_class: type[TracerProvider], sampler: Sampler, parent: SpanContext | None
) -> tuple[Any, ...]:
    """What a sampler decided for a span under ``parent``, as seen on the span."""
    tracer = provider_class(sampler=sampler).get_tracer("sampling")
    context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent is not None else None
    span = tracer.start_span("s", context, attributes={"a": 1})
    own = span.get_span_context()
    recorded = dict(span.attributes) if isinstance(span, ReadableSpan) and span.attributes else None  # type: ignore[arg-type]
    return (
        span.is_recording(),
        int(own.trace_flags),
        own.trace_state,
        own.trace_id if parent is not None and parent.is_valid else "new trace",
        getattr(span, "parent", None),
        recorded,
    )


@pytest.mark.parametrize("parent", PARENTS.values(), ids=PARENTS.keys())
@pytest.mark.parametrize("sampler", SAMPLERS.values(), ids=SAMPLERS.keys())
def test_sampling_decisions_are_the_samplers_own(sampler: Sampler, parent: SpanContext | None) -> None:
    """Parent-based samplers with fixed delegates are decided without being asked: the same answers."""
    assert started(LeanTracerProvider, sampler, parent) == started(TracerProvider, sampler, parent)


def test_which_samplers_are_decided_without_being_asked() -> None:
    decided = {name: spans.static_decisions(sampler) is not None for name, sampler in SAMPLERS.items()}
    assert decided == {
        "parentbased_always_on": True,
        "parentbased_always_off": True,
        "all static, odd choices": True,
        "parentbased_traceidratio": False,
    }
    tracer = LeanTracerProvider().get_tracer("default sampler")
    assert tracer._static_decisions is not None  # type: ignore[attr-defined]


def test_unknown_sdk_shape_falls_back_to_sdk_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crocotel.spans.SUPPORTED", False)
    span = LeanTracerProvider().get_tracer("fallback").start_span("s")
    assert type(span).__name__ == "_Span" and len(span.links) == 0


@pytest.mark.parametrize("attributes", ["lean", "sdk"])
def test_attributes_of_a_live_span_stay_consistent_across_threads(
    attributes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads setting attributes on one span while another lists them: nothing lost or raised
    (the lean attributes, without a lock of their own, as the SDK's with theirs)."""
    if attributes == "sdk":
        monkeypatch.setattr(spans, "_new_attributes", spans._sdk_attributes)
    provider = LeanTracerProvider(span_limits=SpanLimits(max_span_attributes=500))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("threads").start_span("shared")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(300):
                span.set_attribute(f"t{n}.{i}", i)
        except BaseException as exc:  # any failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        live = span.attributes or {}
        assert len(list(live)) <= 500
        if attributes == "lean":  # the SDK's items() looks keys up again: one dropped meanwhile raises
            assert all(key.endswith(f".{value}") for key, value in live.items())
            assert len(list(live.values())) <= 500
    for thread in threads:
        thread.join(10)
    span.end()
    [done] = exporter.get_finished_spans()
    assert errors == []
    assert len(done.attributes or {}) == 500 and done.dropped_attributes == 4 * 300 - 500


def test_lean_getters_answer_what_the_sdk_getters_answer() -> None:
    """_LeanSpan reads its plain fields in C; each must give exactly what the SDK's getter gives."""
    parent = trace.set_span_in_context(trace.NonRecordingSpan(REMOTE))
    span = LeanTracerProvider().get_tracer("getters").start_span("s", parent, SpanKind.SERVER, {"a": 1})
    span.set_status(Status(StatusCode.ERROR, "boom"))
    span.end()
    for name in (*spans._PLAIN_GETTERS, "dropped_attributes"):
        sdk_getter = getattr(SdkSpan, name).fget
        assert getattr(span, name) is sdk_getter(span), name
    assert span.parent is REMOTE and span.kind is SpanKind.SERVER and span.end_time is not None


def test_a_getter_that_computes_turns_lean_spans_off() -> None:
    """The C getters stand in for the SDK's only while each of those just returns its field."""

    class Computed:
        @property
        def name(self) -> str:
            return self._name.upper()  # type: ignore[attr-defined,no-any-return]

        @property
        def kind(self) -> str:
            return self._kind  # type: ignore[attr-defined,no-any-return]

    assert all(spans._plain_getter(name) for name in spans._PLAIN_GETTERS)
    original = spans._Span
    try:
        spans._Span = Computed
        assert not spans._plain_getter("name")
        assert spans._plain_getter("kind")
        assert not spans._plain_getter("status")  # missing: not plain either
        assert not spans._sdk_supported()
    finally:
        spans._Span = original
    assert spans._sdk_supported()


def test_attributes_are_read_only_live_and_ended() -> None:
    """A live span's attributes are a read-only view, as the SDK's; an ended span's the frozen set."""
    span = LeanTracerProvider().get_tracer("attributes").start_span("s", attributes={"a": 1})
    live = span.attributes
    with pytest.raises(TypeError):
        live["b"] = 2  # type: ignore[index]
    span.set_attribute("b", 2)
    assert dict(live or {}) == {"a": 1, "b": 2}  # a view: it shows later changes
    span.end()
    ended: Any = span.attributes
    for change in (lambda: ended.__setitem__("c", 3), lambda: ended.__delitem__("a")):
        with pytest.raises(TypeError):
            change()
    assert dict(ended) == {"a": 1, "b": 2}


def test_attributes_that_cannot_freeze_turn_lean_spans_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ended lean span hands out its attributes only because they refuse changes once frozen."""

    class Unfreezable(dict):  # type: ignore[type-arg]
        def __init__(self, maxlen: int, immutable: bool = True) -> None:
            super().__init__()

    assert spans._sdk_supported()
    monkeypatch.setattr(spans, "BoundedAttributes", Unfreezable)
    assert not spans._sdk_supported()


class Recording(SpanProcessor):
    """A processor that notes every hook it is called with."""

    def __init__(self, calls: list[tuple[str, str]]) -> None:
        self.calls = calls

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.calls.append(("start", span.name))

    def _on_ending(self, span: Any) -> None:
        self.calls.append(("ending", span.name))

    def on_end(self, span: ReadableSpan) -> None:
        self.calls.append(("end", span.name))


def hooks_seen(provider_class: Callable[[], TracerProvider]) -> list[tuple[str, str]]:
    """The hooks two processors see, one of them added while a span is open."""
    calls: list[tuple[str, str]] = []
    provider = provider_class()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))  # on_start does nothing
    provider.add_span_processor(Recording(calls))
    tracer = provider.get_tracer("hooks")
    tracer.start_span("first").end()
    open_span = tracer.start_span("open")
    late: list[tuple[str, str]] = []
    provider.add_span_processor(Recording(late))
    open_span.end()  # the processor added meanwhile gets its end, as the SDK's does
    tracer.start_span("last").end()
    return calls + [("late " + hook, name) for hook, name in late]


def test_processors_get_the_hooks_the_sdk_gives_them() -> None:
    assert hooks_seen(LeanTracerProvider) == hooks_seen(TracerProvider)
    assert ("late end", "open") in hooks_seen(LeanTracerProvider)


def test_another_multi_processor_gets_every_hook_without_a_new_look_per_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider whose processor is not the SDK's synchronous one (here the concurrent one) has
    each span call it as the SDK does; its hooks are not looked for again at every span."""

    def concurrent(provider_class: type[TracerProvider]) -> Callable[[], TracerProvider]:
        return lambda: provider_class(
            active_span_processor=ConcurrentMultiSpanProcessor(), shutdown_on_exit=False
        )

    looked = []
    rehook = spans._LeanTracer._rehook
    monkeypatch.setattr(spans._LeanTracer, "_rehook", lambda self, p: looked.append(p) or rehook(self, p))
    lean = hooks_seen(concurrent(LeanTracerProvider))
    assert sorted(lean) == sorted(hooks_seen(concurrent(TracerProvider)))
    assert ("late end", "open") in lean
    assert len(looked) == 1  # when the tracer was made, not per span


def test_hooks_that_do_nothing_are_recognised_from_their_code() -> None:
    assert does_nothing(SpanProcessor.on_start)
    assert does_nothing(SimpleSpanProcessor._on_ending)
    assert not does_nothing(Recording.on_start)
    assert not does_nothing(lambda span: 0)  # returns something
    assert not does_nothing(print)  # no Python code to read: called as it is


def test_spans_started_are_counted_when_the_sdk_counts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the SDK's own span metrics on, lean spans are counted as SDK spans are."""
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")

    def counted(provider_class: type[TracerProvider]) -> dict[str, Any]:
        reader = InMemoryMetricReader()
        meters = MeterProvider(metric_readers=[reader])
        tracer = provider_class(meter_provider=meters).get_tracer("counted")
        tracer.start_span("ended").end()
        tracer.start_span("open")
        data = reader.get_metrics_data()
        return {
            metric.name: sorted((dict(p.attributes or {}).items(), p.value) for p in metric.data.data_points)  # type: ignore[union-attr]
            for rm in data.resource_metrics  # type: ignore[union-attr]
            for sm in rm.scope_metrics
            for metric in sm.metrics
        }

    sdk = counted(TracerProvider)
    assert sdk, "the SDK counted no span: its self-metrics are off"
    assert counted(LeanTracerProvider) == sdk


class Sequential(IdGenerator):
    """Ids 1, 2, 3, ...: not random, so the tracer must ask this generator for every id."""

    def __init__(self) -> None:
        self.last = 0

    def generate_span_id(self) -> int:
        self.last += 1
        return self.last

    def generate_trace_id(self) -> int:
        self.last += 1
        return self.last


def test_ids_come_from_the_providers_generator() -> None:
    tracer = LeanTracerProvider(id_generator=Sequential()).get_tracer("ids")
    root = tracer.start_span("root")
    child = tracer.start_span("child", trace.set_span_in_context(root))
    assert (root.get_span_context().trace_id, root.get_span_context().span_id) == (1, 2)
    assert (child.get_span_context().trace_id, child.get_span_context().span_id) == (1, 3)
    random_ids = [LeanTracerProvider().get_tracer("r").start_span("s").get_span_context() for _ in range(50)]
    assert len({c.trace_id for c in random_ids}) == len({c.span_id for c in random_ids}) == 50
    assert all(c.is_valid and not c.is_remote and c.trace_state == TraceState() for c in random_ids)


def test_a_hook_patched_onto_a_processor_is_called() -> None:
    """A processor whose class hook does nothing still gets a hook set on the processor itself."""
    calls: list[str] = []
    processor = SimpleSpanProcessor(InMemorySpanExporter())
    processor.on_start = lambda span, parent_context=None: calls.append(span.name)  # type: ignore[method-assign]
    provider = LeanTracerProvider()
    provider.add_span_processor(processor)
    provider.get_tracer("patched").start_span("seen").end()
    assert calls == ["seen"]
