"""Error reporting: fingerprints, the bounded crocotel.errors counter, the hooks, and what gets logged."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crocotel import errors
from crocotel.logs.handler import ROLE
from crocotel.redaction import Redactor
from tests.support import BIN, REPO, base_env

ERROR_APP = REPO / "tests" / "apps" / "error_app.py"
TOKEN = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"
PHONE = "+14155550123"


def parse_input(text: str) -> int:
    raise ValueError(f"cannot parse {text!r}")


def load_profile(user: int) -> None:
    raise KeyError(f"user {user}")


def other_site(text: str) -> int:
    raise ValueError(f"cannot parse {text!r}")


def caught(fn: Any, *args: Any) -> BaseException:
    try:
        fn(*args)
    except Exception as exc:
        return exc
    raise AssertionError("did not raise")


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


def reporter_for(reader: InMemoryMetricReader, limit: int = 100) -> errors.ErrorReporter:
    return errors.ErrorReporter(MeterProvider(metric_readers=[reader]), Redactor(), limit)


def counts(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    """crocotel.errors points by (fingerprint, error.type)."""
    found: dict[tuple[str, str], int] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "crocotel.errors":
                    for point in metric.data.data_points:
                        attrs = point.attributes or {}
                        key = (str(attrs["fingerprint"]), str(attrs["error.type"]))
                        found[key] = int(point.value)
    return found


@pytest.fixture
def ours() -> Iterator[list[logging.LogRecord]]:
    """The records crocotel's own handlers (stdout JSON line, OTLP bridge) receive."""
    records: list[logging.LogRecord] = []

    class Ours(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Ours()
    setattr(handler, ROLE, "test")
    logging.root.addHandler(handler)
    try:
        yield records
    finally:
        logging.root.removeHandler(handler)


@pytest.fixture
def quiet_errors() -> Iterator[None]:
    """Keep the crocotel_errors logger out of pytest's capture for bulk tests."""
    logger = logging.getLogger(errors.LOGGER_NAME)
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = False


def test_ten_thousand_messages_are_one_fingerprint(reader: InMemoryMetricReader, quiet_errors: None) -> None:
    reporter = reporter_for(reader)
    labels = {reporter.report(caught(parse_input, f"input number {i}"), "handler") for i in range(10_000)}
    assert len(labels) == 1
    (label,) = labels
    assert label is not None and label.startswith("parse_input-")
    assert counts(reader) == {(label, "ValueError"): 10_000}


def test_call_sites_and_types_give_different_fingerprints() -> None:
    same = errors.fingerprint(caught(parse_input, "a"))
    again = errors.fingerprint(caught(parse_input, "something else entirely"))
    elsewhere = errors.fingerprint(caught(other_site, "a"))
    other_type = errors.fingerprint(caught(load_profile, 7))
    assert same == again
    assert len({same.digest, elsewhere.digest, other_type.digest}) == 3
    assert same.frames[0] == f"{__name__}:parse_input"
    assert same.frames[1] == f"{__name__}:caught"
    assert other_type.error_type == "KeyError"
    # no line numbers, no message text
    assert all(":" in f and not any(c.isdigit() for c in f.rpartition(":")[2]) for f in same.frames)


def test_library_and_crocotel_frames_are_skipped() -> None:
    exc = caught(json.loads, "{not json")  # raised inside the stdlib's json module
    fp = errors.fingerprint(exc)
    assert fp.error_type == "json.decoder.JSONDecodeError"
    assert fp.frames[0] == f"{__name__}:caught"  # the innermost application frame
    assert not any(f.startswith(("json.", "crocotel.")) for f in fp.frames)


def test_the_first_n_fingerprints_get_labels_the_rest_count_as_other(reader: InMemoryMetricReader) -> None:
    reporter = reporter_for(reader, limit=2)
    first = reporter.report(caught(parse_input, "x"), "handler")
    second = reporter.report(caught(load_profile, 1), "handler")
    third = reporter.report(caught(other_site, "x"), "handler")
    again = reporter.report(caught(parse_input, "y"), "handler")
    assert third == errors.OTHER
    assert again == first
    assert counts(reader) == {
        (str(first), "ValueError"): 2,
        (str(second), "KeyError"): 1,
        (errors.OTHER, "ValueError"): 1,  # ValueError already has its own error.type value
    }


def test_first_sight_is_logged_once_per_fingerprint(
    reader: InMemoryMetricReader, ours: list[logging.LogRecord]
) -> None:
    reporter = reporter_for(reader)
    for text in ("a", "b", "c"):
        reporter.report(caught(parse_input, text), "handler")
    reporter.report(caught(load_profile, 1), "handler")
    first_seen = [r for r in ours if getattr(r, "event.name", None) == errors.FIRST_SEEN_EVENT]
    logged = [r for r in ours if r.levelno == logging.ERROR]
    assert [getattr(r, "error.type") for r in first_seen] == ["ValueError", "KeyError"]
    assert len(logged) == 4
    assert {getattr(r, "error.source") for r in logged} == {"handler"}


def test_one_exception_is_reported_once(reader: InMemoryMetricReader, ours: list[logging.LogRecord]) -> None:
    reporter = reporter_for(reader)
    exc = caught(parse_input, "x")
    label = reporter.report(exc, "handler")
    assert reporter.report(exc, "asyncio") == label  # the same object seen again later
    assert reporter.report(KeyboardInterrupt(), "uncaught") is None
    assert sum(counts(reader).values()) == 1
    assert len([r for r in ours if r.levelno == logging.ERROR]) == 1


def test_recorded_on_the_active_span(reader: InMemoryMetricReader) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = provider.get_tracer("test")
    reporter = reporter_for(reader)
    with tracer.start_as_current_span("handler"):
        label = reporter.report(caught(parse_input, f"token {TOKEN}"), "handler")
    with tracer.start_as_current_span("already recorded") as span:
        exc = caught(load_profile, 2)
        span.record_exception(exc)
        reporter.report(exc, "handler", recorded=True)
    first, second = spans.get_finished_spans()
    assert first.attributes is not None and first.attributes["error.fingerprint"] == label
    (event,) = first.events
    assert event.name == "exception"
    assert event.attributes is not None and event.attributes["error.fingerprint"] == label
    assert second.attributes is not None and "error.fingerprint" in second.attributes
    assert len(second.events) == 1  # the caller's own record, not a second one


def test_log_record_is_redacted_for_any_handler(
    reader: InMemoryMetricReader, ours: list[logging.LogRecord]
) -> None:
    reporter = reporter_for(reader)
    reporter.report(caught(parse_input, f"{TOKEN} {PHONE}"), "handler")
    (record,) = [r for r in ours if r.levelno == logging.ERROR]
    plain = logging.Formatter().format(record)  # an app's own formatter prints exc_text
    assert "[REDACTED:bot_token]" in plain and "[REDACTED:phone]" in plain
    assert TOKEN not in plain and PHONE not in plain
    assert "Traceback" in plain and "parse_input" in plain


def test_the_apps_handlers_and_caplog_see_no_added_record(
    reader: InMemoryMetricReader, ours: list[logging.LogRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """A framework logs its own line for a failing handler; crocotel adds its line to its own
    outputs only, so the app's handlers and tests (caplog) see what they saw without it."""
    caplog.set_level(logging.DEBUG)
    reporter_for(reader).report(caught(parse_input, "x"), "handler")
    assert [r.name for r in ours] == [errors.LOGGER_NAME, errors.LOGGER_NAME]  # first sight + error
    assert not [r for r in caplog.records if r.name == errors.LOGGER_NAME]


def test_hooks_install_chain_and_uninstall_exactly(reader: InMemoryMetricReader) -> None:
    before = (sys.excepthook, threading.excepthook, asyncio.BaseEventLoop.__dict__["call_exception_handler"])
    uninstall = errors.install(MeterProvider(metric_readers=[reader]), Redactor())
    try:
        assert sys.excepthook is not before[0]
        assert threading.excepthook is not before[1]
        assert asyncio.BaseEventLoop.__dict__["call_exception_handler"] is not before[2]
    finally:
        uninstall()
    assert (sys.excepthook, threading.excepthook) == before[:2]
    assert asyncio.BaseEventLoop.__dict__["call_exception_handler"] is before[2]
    uninstall()  # idempotent


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_hook_chained_on_top_survives_uninstall(reader: InMemoryMetricReader) -> None:
    original = threading.excepthook
    uninstall = errors.install(MeterProvider(metric_readers=[reader]), None)
    ours = threading.excepthook
    seen: list[str] = []

    def app_hook(args: threading.ExceptHookArgs) -> None:
        seen.append(type(args.exc_value).__name__)
        ours(args)

    threading.excepthook = app_hook
    try:
        uninstall()
        assert threading.excepthook is app_hook  # not ripped out from under the app
        thread = threading.Thread(target=lambda: parse_input("x"))
        thread.start()
        thread.join()
        assert seen == ["ValueError"]
        assert counts(reader) == {}  # ours is a pass-through now
    finally:
        threading.excepthook = original


def test_loops_made_before_install_and_the_apps_handler_still_runs(reader: InMemoryMetricReader) -> None:
    loop = asyncio.new_event_loop()  # created before crocotel starts
    handled: list[str] = []
    loop.set_exception_handler(lambda _loop, context: handled.append(context["message"]))
    uninstall = errors.install(MeterProvider(metric_readers=[reader]), None)
    try:

        def fail() -> None:
            parse_input("in a callback")

        loop.call_soon(fail)
        loop.call_soon(loop.stop)
        loop.run_forever()
        loop.call_exception_handler({"message": "no exception here"})
    finally:
        uninstall()
        loop.close()
    assert len(handled) == 2 and handled[0].startswith("Exception in callback")
    ((label, error_type),) = counts(reader)
    assert label.startswith("parse_input-") and error_type == "ValueError"


def test_report_without_telemetry_is_a_no_op() -> None:
    assert errors.report(caught(parse_input, "x")) is None


def run_app(mode: str, script: Path = ERROR_APP, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(script), mode],
        env=base_env(OTEL_TRACES_EXPORTER="none", OTEL_LOGS_EXPORTER="none", **env),
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def error_lines(stdout: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == errors.LOGGER_NAME]


@pytest.mark.parametrize(
    ("mode", "source", "code"), [("thread", "thread", 0), ("task", "asyncio", 0), ("uncaught", "uncaught", 1)]
)
def test_each_hook_logs_one_redacted_line(mode: str, source: str, code: int) -> None:
    done = run_app(mode)
    assert done.returncode == code, done.stderr
    lines = error_lines(done.stdout)
    first_seen = [x for x in lines if x.get("event.name") == errors.FIRST_SEEN_EVENT]
    logged = [x for x in lines if x["level"] == "ERROR"]
    assert len(first_seen) == 1 and len(logged) == 1, done.stdout
    (line,) = logged
    assert line["error.source"] == source
    assert line["error.type"] == "RuntimeError"
    assert line["error.fingerprint"].startswith("charge-")
    assert line["error.frames"].startswith("__main__:charge <- ")
    assert "[REDACTED:bot_token]" in line["exception"]["message"]
    if mode == "task":
        assert "APP-HANDLER RuntimeError" in done.stdout  # the app's own loop handler still ran
    if mode != "task":  # Python's default hook output, scrubbed
        assert "RuntimeError: payment failed" in done.stderr and "[REDACTED:bot_token]" in done.stderr
    for output in (done.stdout, done.stderr):
        assert TOKEN not in output and PHONE not in output


def test_same_failure_in_two_processes_same_fingerprint(tmp_path: Path) -> None:
    prints = []
    for name, seed in (("one", "1"), ("two", "2")):
        home = tmp_path / name / "deeper" if name == "two" else tmp_path / name
        home.mkdir(parents=True)
        script = home / "error_app.py"
        shutil.copy(ERROR_APP, script)  # another path, as on another machine
        done = run_app("thread", script, PYTHONHASHSEED=seed)
        assert done.returncode == 0, done.stderr
        (line,) = [x for x in error_lines(done.stdout) if x["level"] == "ERROR"]
        prints.append(line["error.fingerprint"])
    assert prints[0] == prints[1]
    task = error_lines(run_app("task").stdout)
    assert prints[0] not in {x["error.fingerprint"] for x in task}  # another call site


@pytest.mark.skipif(sys.version_info < (3, 12), reason="a task's context is readable from Python 3.12")
def test_task_error_carries_the_tasks_trace_id() -> None:
    done = run_app("span", OTEL_TRACES_EXPORTER="console")
    (line,) = [x for x in error_lines(done.stdout) if x["level"] == "ERROR"]
    assert len(line.get("trace_id", "")) == 32
