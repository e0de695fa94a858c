"""What a finished Bot API call leaves behind in the contexts that outlive it.

asyncio copies the current context into every callback and timer scheduled during a request,
and aiohttp schedules its timeouts there; cancelled, such a timer stays in the loop with its
copy until the loop purges cancelled timers, a hundred or more at a time. Whatever that copy
reaches lives on for as long, long enough for the garbage collector to move it to its oldest
generation, where each object brings the next full collection (a scan of the whole heap) sooner.
"""

from __future__ import annotations

import contextvars
import gc
import weakref

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from crocotel.current import attach, current_span, detach
from crocotel.instrumentation._api_calls import ApiCalls
from crocotel.instrumentation._context import DeliveredUpdates, with_span
from crocotel.instrumentation._instruments import TelegramInstruments


def test_a_finished_call_lets_go_of_what_was_current_before_it() -> None:
    tracer = TracerProvider().get_tracer("tests")
    calls = ApiCalls(
        tracer, TelegramInstruments(MeterProvider().get_meter("tests")), DeliveredUpdates(), False
    )
    handler = tracer.start_span("telegram.handler echo")
    token = attach(with_span(handler))
    call = calls.start("sendMessage", "http://127.0.0.1:1/bot1:x/sendMessage")
    kept = contextvars.copy_context()  # what a timer scheduled during the request holds
    calls.succeeded(call)
    calls.close(call)
    assert current_span() is handler  # the context before the call is current again
    detach(token)
    handler.end()

    gone = weakref.ref(handler)
    del handler, token
    gc.collect()  # only what the kept copy really reaches survives
    assert gone() is None, "the call's context still holds the handler's span"
    assert kept.run(current_span).name == "sendMessage"  # the copy itself still holds the call's span
