"""Spans redacted as they are encoded: what reaches the Collector from crocotel's span processor.

The encoding span processor leaves attribute values (of the span, its events and its links)
to the encoder, which redacts each as it writes it and remembers only the pairs it found
clean. These tests send spans through that processor to an OTLP/HTTP receiver and read the
decoded protobuf: every planted secret must be gone, clean values kept, and a value the
encoder remembered as clean must be redacted once the engine learns the phone number in it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link, Status, StatusCode

from crocotel.processors import span_processor
from crocotel.redaction.engine import Redactor
from crocotel.redaction.policy import Redaction
from crocotel.spans import LeanTracerProvider
from crocotel.testing import OtlpReceiver

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
PHONE = "+7 916 123-45-67"
BARE = "89161234567"  # no rule matches it: redacted only once Telegram marked it as a phone
SECRETS = ("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_", "916 123-45-67", "hunter2")
CONTROL = "control-7f3a"


@pytest.fixture(params=[TracerProvider, LeanTracerProvider], ids=["sdk-spans", "lean-spans"])
def pipeline(request: pytest.FixtureRequest) -> Iterator[tuple[TracerProvider, OtlpReceiver, Redactor]]:
    with OtlpReceiver() as receiver:
        engine = Redactor()
        provider = request.param(resource=Resource({"service.name": f"bot-{CONTROL}"}))
        exporter = OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
        provider.add_span_processor(span_processor(exporter, Redaction(engine), 2048, None))
        yield provider, receiver, engine
        provider.shutdown()


def _flushed(provider: TracerProvider, receiver: OtlpReceiver, count: int) -> list:  # type: ignore[type-arg]
    assert provider.force_flush(10_000)
    assert receiver.wait_for(lambda r: len(r.spans()) >= count), receiver.spans()
    return receiver.spans()


def test_attributes_of_spans_events_and_links_arrive_redacted(
    pipeline: tuple[TracerProvider, OtlpReceiver, Redactor],
) -> None:
    provider, receiver, engine = pipeline
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("linked") as linked:
        pass
    attributes = {
        "url.full": f"https://api.telegram.org/bot{TOKEN}/sendMessage",
        "telegram.note": f"{CONTROL} call {PHONE}",
        "api_key": "hunter2",
        "telegram.control": CONTROL,
        "telegram.update.id": 123456789,
        "tags": (CONTROL, PHONE),
    }
    for _ in range(3):  # the second and third meet what the encoder remembered of the first
        with tracer.start_as_current_span(
            f"sendMessage to {PHONE}",
            attributes=attributes,
            links=[Link(linked.get_span_context(), {"why": f"same user {PHONE}"})],
        ) as span:
            span.add_event("retry", {"detail": f"token {TOKEN}", "control": CONTROL})
            span.set_status(Status(StatusCode.ERROR, f"failed for {PHONE}"))

    spans = _flushed(provider, receiver, 4)
    dump = repr(receiver.raw_bodies())
    for secret in SECRETS:
        assert secret not in dump, secret
    sent = [s for s in spans if s.name != "linked"]
    assert len(sent) == 3
    for span in sent:
        assert span.name == "sendMessage to [REDACTED:phone]"
        attrs = span.attributes
        assert attrs["url.full"] == "https://api.telegram.org/bot[REDACTED:bot_token]/sendMessage"
        assert attrs["telegram.note"] == f"{CONTROL} call [REDACTED:phone]"
        assert attrs["api_key"] == "[REDACTED:secret]"
        assert attrs["telegram.control"] == CONTROL
        assert attrs["telegram.update.id"] == 123456789
        assert list(attrs["tags"]) == [CONTROL, "[REDACTED:phone]"]
        assert span.events == [("retry", {"detail": "token [REDACTED:bot_token]", "control": CONTROL})]
        assert span.links[0][2] == {"why": "same user [REDACTED:phone]"}
        assert span.status_message == "failed for [REDACTED:phone]"
    # every redaction counted, the repeats too: what was redacted is never remembered
    counts = engine.counts()
    assert counts[("bot_token", "traces")] == 3 * 2  # url.full, the event's detail
    assert counts[("secret", "traces")] == 3  # api_key
    assert counts[("phone", "traces")] == 3 * 5  # name, note, tags, status, the link's why


def test_texts_remembered_clean_are_redacted_once_their_phone_number_is_learnt(
    pipeline: tuple[TracerProvider, OtlpReceiver, Redactor],
) -> None:
    provider, receiver, engine = pipeline
    tracer = provider.get_tracer("test")
    note = f"call {BARE} {CONTROL}"

    def send(step: str) -> None:
        span = tracer.start_span(note, attributes={"telegram.note": note, "telegram.step": step})
        span.add_event(note)
        span.set_status(Status(StatusCode.ERROR, note))
        span.end()

    for _ in range(2):  # clean to the rules: written once, then remembered
        send("before")
    engine.learn_phone(BARE)  # as when Telegram marks it in a message's entities
    send("after")

    spans = _flushed(provider, receiver, 3)
    redacted = f"call [REDACTED:phone] {CONTROL}"
    for span in spans:
        expected = note if span.attributes["telegram.step"] == "before" else redacted
        assert (span.name, span.attributes["telegram.note"]) == (expected, expected)
        assert (span.events[0][0], span.status_message) == (expected, expected)
    assert sorted(span.attributes["telegram.step"] for span in spans) == ["after", "before", "before"]
