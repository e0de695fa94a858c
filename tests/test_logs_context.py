"""Trace ids on log lines follow the OpenTelemetry context: spans, tasks, threads."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import json
import logging
import threading

import pytest
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan

from crocotel.logs import install
from crocotel.logs.context import current_ids
from crocotel.redaction.engine import NullRedactor
from tests.logs_support import isolated, lines, tracer

log = logging.getLogger("tests.context")


def json_out() -> io.StringIO:
    """Install crocotel's JSON output on a fresh stream (inside the isolated test body)."""
    stream = io.StringIO()
    install(
        log_format="json",
        log_level="INFO",
        service_name="svc",
        redactor=NullRedactor(),
        logger_provider=None,
        stream=stream,
    )
    return stream


def ids(span: trace.Span) -> tuple[str, str]:
    ctx = span.get_span_context()
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in lines(stream)]


@isolated
def test_line_inside_a_span_has_its_ids_and_outside_none() -> None:
    out = json_out()
    log.info("before")
    with tracer().start_as_current_span("update") as span:
        log.info("inside")
        with tracer().start_as_current_span("handler") as child:
            log.info("nested")
    log.info("after")
    before, inside, nested, after = records(out)
    assert "trace_id" not in before and "span_id" not in before
    assert "trace_id" not in after and "span_id" not in after
    assert (inside["trace_id"], inside["span_id"]) == ids(span)
    assert (nested["trace_id"], nested["span_id"]) == ids(child)
    assert nested["trace_id"] == inside["trace_id"] and nested["span_id"] != inside["span_id"]


@isolated
def test_invalid_span_context_gives_no_ids_never_zeros() -> None:
    out = json_out()
    with trace.use_span(NonRecordingSpan(INVALID_SPAN_CONTEXT)):
        log.info("in an invalid span")
    assert "trace_id" not in records(out)[0]
    assert "0" * 16 not in out.getvalue()
    assert current_ids() == ("", "")


@isolated
async def test_task_spawned_inside_a_span_carries_the_parent_trace() -> None:
    out = json_out()

    async def handler() -> None:
        await asyncio.sleep(0)
        log.info("from task")

    with tracer().start_as_current_span("update") as span:
        task = asyncio.create_task(handler())
    log.info("outside, while the task waits")
    await task
    outside, in_task = records(out)
    assert "trace_id" not in outside
    assert (in_task["trace_id"], in_task["span_id"]) == ids(span)


@isolated
async def test_concurrent_tasks_keep_their_own_ids() -> None:
    out = json_out()

    async def update(n: int) -> tuple[str, str]:
        with tracer().start_as_current_span(f"update {n}") as span:
            for _ in range(3):
                await asyncio.sleep(0)
                log.info("step", extra={"n": n})
            return ids(span)

    expected = await asyncio.gather(*(update(n) for n in range(5)))
    for record in records(out):
        assert (record["trace_id"], record["span_id"]) == expected[record["n"]]  # type: ignore[index]


@isolated
async def test_to_thread_inside_a_span_carries_its_ids() -> None:
    out = json_out()
    with tracer().start_as_current_span("update") as span:
        await asyncio.to_thread(log.info, "from a worker thread")
    (line,) = records(out)
    assert (line["trace_id"], line["span_id"]) == ids(span)


@isolated
def test_thread_with_copied_context_has_ids_and_plain_thread_not() -> None:
    out = json_out()
    with tracer().start_as_current_span("update") as span:
        copied = contextvars.copy_context()
        with_ctx = threading.Thread(target=copied.run, args=(log.info, "copied"))
        plain = threading.Thread(target=log.info, args=("plain",))
        with_ctx.start()
        with_ctx.join()
        plain.start()
        plain.join()
    copied_line, plain_line = records(out)
    assert (copied_line["trace_id"], copied_line["span_id"]) == ids(span)
    assert "trace_id" not in plain_line


@isolated
def test_ids_are_taken_at_the_logging_call_not_at_formatting() -> None:
    """A record formatted later (QueueHandler style) keeps the ids of where it was made."""
    out = json_out()
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    keep = Keep()
    log.addHandler(keep)
    try:
        with tracer().start_as_current_span("update") as span:
            log.info("queued")
    finally:
        log.removeHandler(keep)
    out.truncate(0)
    out.seek(0)
    logging.root.handlers[0].handle(captured[0])  # formatted now, outside the span
    line = records(out)[0]
    assert (line["trace_id"], line["span_id"]) == ids(span)


@isolated
def test_the_app_record_factory_is_left_alone_and_records_get_ids() -> None:
    previous = logging.getLogRecordFactory()

    def app_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = "r-1"
        return record

    logging.setLogRecordFactory(app_factory)
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    log.addHandler(Keep())
    uninstall = install(
        log_format="none", log_level=None, service_name="svc", redactor=NullRedactor(), logger_provider=None
    )
    assert logging.getLogRecordFactory() is app_factory
    with tracer().start_as_current_span("s") as span:
        log.warning("m")
    assert seen[0].request_id == "r-1"  # type: ignore[attr-defined]
    assert (seen[0].trace_id, seen[0].span_id) == ids(span)  # type: ignore[attr-defined]
    uninstall()
    assert logging.getLogRecordFactory() is app_factory


@isolated
def test_the_hook_is_exact_and_reversible() -> None:
    """Logger's own method is wrapped; a later patch still runs; uninstall restores the class."""
    before = dict(vars(logging.Logger))
    uninstall = install(
        log_format="none", log_level=None, service_name="s", redactor=NullRedactor(), logger_provider=None
    )
    assert vars(logging.Logger)["callHandlers"] is not before["callHandlers"]
    ours = logging.Logger.callHandlers
    later_calls: list[str] = []

    def later(self: logging.Logger, record: logging.LogRecord) -> None:
        later_calls.append(record.getMessage())
        ours(self, record)

    logging.Logger.callHandlers = later  # type: ignore[method-assign]
    try:
        log.warning("through both")
        assert later_calls == ["through both"]
        uninstall()  # someone patched on top: ours becomes a pass-through, theirs stays
        assert logging.Logger.callHandlers is later
        with tracer().start_as_current_span("s"):
            record = log.makeRecord("x", logging.WARNING, "f", 1, "m", (), None)
            logging.Logger.callHandlers(log, record)
        assert not hasattr(record, "trace_id")
    finally:
        logging.Logger.callHandlers = before["callHandlers"]  # type: ignore[method-assign]
    uninstall = install(
        log_format="json", log_level=None, service_name="s", redactor=NullRedactor(), logger_provider=None
    )
    uninstall()
    assert dict(vars(logging.Logger)) == before


@isolated
@pytest.mark.parametrize("in_span", [False, True])
def test_an_app_extra_named_trace_id_never_raises(in_span: bool) -> None:
    out = json_out()
    theirs = io.StringIO()
    handler = logging.StreamHandler(theirs)
    handler.setFormatter(logging.Formatter("%(message)s trace=%(trace_id)s"))
    other = logging.getLogger("tests.context.app")
    other.addHandler(handler)
    other.propagate = False
    with contextlib.ExitStack() as stack:
        span = stack.enter_context(tracer().start_as_current_span("s")) if in_span else None
        log.warning("own id", extra={"trace_id": "abc", "span_id": "def"})
        other.warning("own id", extra={"trace_id": "abc"})
    line = records(out)[0]
    assert line["message"] == "own id"
    assert line["extra.trace_id"] == "abc" and line["extra.span_id"] == "def"
    if span is not None:
        assert (line["trace_id"], line["span_id"]) == ids(span)
    else:
        assert "trace_id" not in line
    assert theirs.getvalue() == "own id trace=abc\n"  # the app's own value in the app's format
