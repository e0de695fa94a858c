"""crocotel.current answers as OpenTelemetry's context API does, only in fewer steps."""

from __future__ import annotations

import asyncio
import logging

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from crocotel import current

SPAN = TracerProvider().get_tracer("current").start_span("s")


class NotASpan:
    """Something else stored under the span key."""


@pytest.mark.parametrize(
    "value", [None, SPAN, trace.NonRecordingSpan(SPAN.get_span_context()), NotASpan(), "text"]
)
def test_current_span_is_the_apis_answer(value: object) -> None:
    context = context_api.Context({current.SPAN_KEY: value}) if value is not None else context_api.Context()
    assert current.current_span(context) is trace.get_current_span(context)
    token = context_api.attach(context)
    try:
        assert current.current_context() is context_api.get_current()
        assert current.current_span() is trace.get_current_span()
    finally:
        context_api.detach(token)


def test_attach_and_detach_are_the_apis() -> None:
    before = context_api.get_current()
    token = current.attach(trace.set_span_in_context(SPAN))
    assert trace.get_current_span() is SPAN
    current.detach(token)
    assert context_api.get_current() is before


def test_a_token_that_cannot_be_restored_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    token = current.attach(trace.set_span_in_context(SPAN))
    current.detach(token)
    with caplog.at_level(logging.ERROR, logger="opentelemetry.context"):
        current.detach(token)  # used twice
    assert "Failed to detach context" in caplog.text
    made_elsewhere: list[object] = []

    async def elsewhere() -> None:
        made_elsewhere.append(current.attach(trace.set_span_in_context(SPAN)))

    asyncio.run(elsewhere())
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="opentelemetry.context"):
        current.detach(made_elsewhere[0])  # type: ignore[arg-type]
    assert "Failed to detach context" in caplog.text


def test_another_runtime_context_is_left_to_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    class Other(context_api._RUNTIME_CONTEXT.__class__):  # type: ignore[name-defined,misc]
        pass

    monkeypatch.setattr(context_api, "_RUNTIME_CONTEXT", Other())
    assert current._context_variable() is None
