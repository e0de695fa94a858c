"""Faults from benchmarks/bench_faults.py that run in seconds, as tests of behaviour (no timing).

- SIGTERM with 16 Bot API calls in flight: every call that finished before the signal has its
  span exported, the in-flight ones do not stop the exit, and the bot exits 0;
- the Collector unavailable mid-run, answering 503 as while it restarts (the SDK's own retry;
  the real agent restarted with its queue on disk is tests/test_collector_agent.py): the spans
  of the calls made while it was away arrive;
- a 429 storm and 5xx from the Bot API: the bot keeps answering, and every failed call has its
  span with its error code;
- the bot stopping while a refused batch waits out its retry: the batch gets a final attempt.

Already covered elsewhere: the Collector down for a whole run (tests/test_sdk_queue_bound.py:
memory bounded, drops counted), an exit past the flush deadline (tests/test_exit_status.py),
SIGTERM flushing buffered spans (tests/test_distro.py, tests/test_bootstrap.py).
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from crocotel.testing import BotApiThread, OtlpReceiver
from crocotel.testing.otlp import ReceivedSpan
from tests.support import instrumented
from tests.telegram_support import bot_env

pytestmark = pytest.mark.integration


def start_bot(api: BotApiThread, receiver: OtlpReceiver, updates: int, **extra: str) -> subprocess.Popen[str]:
    env = bot_env(api, receiver, updates, OTEL_METRICS_EXPORTER="none", **extra)
    proc = instrumented(["-m", "examples.aiohttp_bot"], env)
    api.wait_polling(timeout=30)
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"the bot did not exit; stderr:\n{err[-3000:]}") from None
    return proc.returncode, err


def sendmessage_spans(*receivers: OtlpReceiver) -> list[ReceivedSpan]:
    return [s for r in receivers for s in r.spans() if s.name == "sendMessage"]


def test_sigterm_with_calls_in_flight_exports_every_finished_call(api: BotApiThread) -> None:
    with OtlpReceiver() as receiver:
        proc = start_bot(api, receiver, 1000, CONCURRENCY="16")
        try:
            for i in range(20):
                api.push_message(f"before {i}", chat_id=100 + i, user_id=100 + i)
            api.wait_sent(20, timeout=30)
            api.wait_polling(timeout=30)  # the batch is done: every one of its spans has ended
            api.delay_next("sendMessage", 60, times=16)  # these stay in flight until the signal
            for i in range(16):
                api.push_message(f"in flight {i}", chat_id=200 + i, user_id=200 + i)
            for _ in range(1500):  # bounded: until the 16 calls reached the stand-in
                if sum(1 for method, _ in api.calls if method == "sendMessage") >= 36:
                    break
                time.sleep(0.02)
            else:
                raise AssertionError("the in-flight calls never reached the stand-in")
            proc.send_signal(signal.SIGTERM)
        finally:
            code, err = finish(proc)
        assert code == 0, err[-3000:]
        assert receiver.wait_for(lambda r: len(sendmessage_spans(r)) >= 20, timeout=10)
        spans = sendmessage_spans(receiver)
        finished = [s for s in spans if s.attributes.get("telegram.api.outcome") == "ok"]
        assert len(finished) == 20, f"{len(finished)} of the 20 finished calls exported"


def test_collector_unavailable_mid_run_loses_no_span(api: BotApiThread) -> None:
    """The Collector answers 503 for a while (as while it restarts): what the SDK held arrives after."""
    with OtlpReceiver() as receiver:
        proc = start_bot(api, receiver, 30)
        try:
            for i in range(10):
                api.push_message(f"up {i}", chat_id=300 + i, user_id=300 + i)
            api.wait_sent(10, timeout=30)
            assert receiver.wait_for(lambda r: len(sendmessage_spans(r)) >= 10, timeout=20)
            receiver.fail_with(503)
            for i in range(10):
                api.push_message(f"away {i}", chat_id=400 + i, user_id=400 + i)
            api.wait_sent(20, timeout=30)
            refused = receiver.wait_for(
                lambda r: any(path == "/v1/traces" and status == 503 for path, status in r.requests()),
                timeout=20,
            )
            assert refused, "no span export was tried while the Collector was away"
            receiver.recover()  # back within the exporter's retry window
            assert receiver.wait_for(lambda r: len(sendmessage_spans(r)) >= 20, timeout=20), (
                "the spans made while the Collector was away never arrived"
            )
            for i in range(10):
                api.push_message(f"back {i}", chat_id=500 + i, user_id=500 + i)
        finally:
            code, err = finish(proc)
        assert code == 0, err[-3000:]
        receiver.wait_for(lambda r: len(sendmessage_spans(r)) >= 30, timeout=15)
        assert len(sendmessage_spans(receiver)) == 30, err[-3000:]


def test_429_storm_and_5xx_leave_a_span_per_failed_call_and_the_bot_answering(api: BotApiThread) -> None:
    with OtlpReceiver() as receiver:
        proc = start_bot(api, receiver, 45)
        try:
            api.flood_next("sendMessage", retry_after=1, times=20)
            api.server_error_next("sendMessage", 502, times=20)
            for i in range(45):
                api.push_message(f"storm {i}", chat_id=600 + i, user_id=600 + i)
            api.wait_sent(5, timeout=60)  # after the storm the bot answers again
        finally:
            code, err = finish(proc)
        assert code == 0, err[-3000:]
        assert receiver.wait_for(lambda r: len(sendmessage_spans(r)) >= 45, timeout=10)
        codes = [s.attributes.get("telegram.api.error_code") for s in sendmessage_spans(receiver)]
        assert codes.count(429) == 20 and codes.count(502) == 20, codes
        assert len(api.sent) == 5


def test_a_batch_waiting_out_a_retry_when_the_bot_stops_gets_a_final_attempt(api: BotApiThread) -> None:
    """The Collector refuses an export (503, as while it restarts), the exporter backs off for
    about a second, and the bot stops meanwhile: the exporter would drop the batch at once; it
    gets one more attempt, and the Collector, back by then, receives it."""
    with OtlpReceiver() as receiver:
        receiver.fail_with(503)
        proc = start_bot(api, receiver, 5, OTEL_BSP_SCHEDULE_DELAY="100", OTEL_LOGS_EXPORTER="none")
        try:
            for i in range(4):
                api.push_message(f"before {i}", chat_id=700 + i, user_id=700 + i)
            api.wait_sent(4, timeout=30)
            refused = receiver.wait_for(
                lambda r: any(path == "/v1/traces" and status == 503 for path, status in r.requests()),
                timeout=20,
            )
            assert refused, "no span export was tried"
            receiver.recover()
            api.push_message("the last one", chat_id=799, user_id=799)  # MAX_UPDATES: the bot stops
        finally:
            code, err = finish(proc)
        assert code == 0, err[-3000:]
        assert receiver.wait_for(lambda r: len(sendmessage_spans(r)) >= 5, timeout=10), err[-3000:]
