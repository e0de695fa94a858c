"""Every format writes lines that parse back, whatever the message and extras contain."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import logging
import re

import pytest

from crocotel.logs import JsonFormatter, LogfmtFormatter, TextFormatter, install
from crocotel.redaction.engine import NullRedactor
from tests.logs_support import isolated, lines, parse_logfmt, tracer

log = logging.getLogger("tests.formats")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")


class Plain:
    pass


NASTY_MESSAGES = [
    "plain",
    'quotes " and \\ backslash and key=value',
    "new\nline and\r\ncrlf and\ttab",
    "unicode: привет, 你好, emoji 🐊 and 👨\u200d👩\u200d👧",
    "escape \x1b[31mred\x1b[0m and nul \x00 and del \x7f",
    "separators \u2028 \u2029 \x85 and nbsp\xa0",
    "",
    "   ",
    "{not json}",
    "lone surrogate \udc80",
]


def nasty_extras() -> dict[str, object]:
    cyclic: list[object] = [1]
    cyclic.append(cyclic)
    return {
        "user_count": 3,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "text": 'a "quoted" value\nover lines',
        "broken": BrokenRepr(),
        "plain_object": Plain(),
        "raw": b"\xff\x00bytes",
        "when": dt.datetime(2026, 11, 29, 5, 1, 2, tzinfo=dt.timezone.utc),
        "amount": decimal.Decimal("1.10"),
        "nan": float("nan"),
        "huge": 2**80,
        "tags": {"b", "a"},
        "nested": {"k": [1, "two", {3: BrokenRepr()}], (1, 2): "tuple key"},
        "cyclic": cyclic,
        "key with space": "v",
        "level": "an extra called level",
    }


def installed(log_format: str, stream: io.StringIO | None = None) -> io.StringIO:
    stream = stream if stream is not None else io.StringIO()
    install(
        log_format=log_format,
        log_level="DEBUG",
        service_name="bot-svc",
        redactor=NullRedactor(),
        logger_provider=None,
        stream=stream,
    )
    return stream


@isolated
def test_json_has_every_field() -> None:
    out = installed("json")
    with tracer().start_as_current_span("update") as span:
        log.info(
            "handled update %s in %.1f ms",
            42,
            12.34,
            extra={"update_type": "message", "chat_type": "private"},
        )
        try:
            raise ValueError("bad value")
        except ValueError:
            log.exception("handler failed")
    ok, failed = (json.loads(line) for line in lines(out))
    ctx = span.get_span_context()
    assert list(ok) == [
        "timestamp",
        "level",
        "logger",
        "message",
        "trace_id",
        "span_id",
        "service.name",
        "update_type",
        "chat_type",
    ]
    assert TIMESTAMP.match(ok["timestamp"])
    assert ok["level"] == "INFO" and ok["logger"] == "tests.formats"
    assert ok["message"] == "handled update 42 in 12.3 ms"
    assert ok["trace_id"] == f"{ctx.trace_id:032x}" and ok["span_id"] == f"{ctx.span_id:016x}"
    assert ok["service.name"] == "bot-svc"
    assert (ok["update_type"], ok["chat_type"]) == ("message", "private")
    assert failed["level"] == "ERROR"
    exc = failed["exception"]
    assert exc["type"] == "ValueError" and exc["message"] == "bad value"
    assert exc["stacktrace"].startswith("Traceback (most recent call last):")
    assert exc["stacktrace"].endswith("ValueError: bad value")


@isolated
def test_timestamp_is_utc_with_milliseconds() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("x", logging.INFO, "f", 1, "m", (), None)
    second = dt.datetime(2026, 11, 29, 5, 1, 2, tzinfo=dt.timezone.utc).timestamp()
    record.created = second + 0.3459  # the same instant in every local time zone
    assert json.loads(formatter.format(record))["timestamp"] == "2026-11-29T05:01:02.345Z"
    record.created = second + 1.0009
    assert json.loads(formatter.format(record))["timestamp"] == "2026-11-29T05:01:03.000Z"


@isolated
def test_exception_type_is_qualified_outside_builtins() -> None:
    out = installed("json")
    try:
        json.loads("{")
    except json.JSONDecodeError:
        log.exception("parse failed")
    assert json.loads(lines(out)[0])["exception"]["type"] == "json.decoder.JSONDecodeError"


@pytest.mark.parametrize("message", NASTY_MESSAGES)
@isolated
def test_json_lines_parse_back(message: str) -> None:
    out = installed("json")
    log.warning(message, extra=nasty_extras())
    log.warning("%s|%r", message, message)
    one, two = lines(out)
    assert one.splitlines() == [one]  # not even U+2028 breaks it up
    record = json.loads(one)
    assert record["message"] == message
    assert record["broken"] == "<unrepresentable BrokenRepr>"
    assert record["plain_object"].startswith("<tests") or record["plain_object"].startswith("<test_logs")
    assert record["raw"] == "\\xff\x00bytes"
    assert record["when"] == "2026-11-29 05:01:02+00:00" and record["amount"] == "1.10"
    assert record["nan"] == "nan" and record["huge"] == str(2**80)
    assert sorted(record["tags"]) == ["a", "b"]
    assert record["nested"] == {"k": [1, "two", {"3": "<unrepresentable BrokenRepr>"}], "(1, 2)": "tuple key"}
    assert record["cyclic"][0] == 1  # cut at a bounded depth, not a crash
    assert record["extra.level"] == "an extra called level" and record["level"] == "WARNING"
    assert json.loads(two)["message"] == f"{message}|{message!r}"


@pytest.mark.parametrize("message", NASTY_MESSAGES)
@isolated
def test_logfmt_round_trips(message: str) -> None:
    out = installed("logfmt")
    with tracer().start_as_current_span("update") as span:
        log.warning(message, extra=nasty_extras())
    (line,) = lines(out)
    fields = parse_logfmt(line)
    assert fields["message"] == message
    assert fields["level"] == "WARNING" and fields["logger"] == "tests.formats"
    assert TIMESTAMP.match(fields["timestamp"])
    assert fields["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert fields["service.name"] == "bot-svc"
    assert fields["text"] == 'a "quoted" value\nover lines'
    assert fields["user_count"] == "3" and fields["flag"] == "true" and fields["nothing"] == "null"
    assert fields["broken"] == "<unrepresentable BrokenRepr>"
    assert json.loads(fields["nested"])["k"][1] == "two"
    assert fields["key_with_space"] == "v" and fields["extra.level"] == "an extra called level"


@isolated
def test_logfmt_exception_is_flattened() -> None:
    out = installed("logfmt")
    try:
        raise KeyError("missing\nkey")
    except KeyError:
        log.exception("lookup failed")
    (line,) = lines(out)
    fields = parse_logfmt(line)
    assert fields["exception.type"] == "KeyError"
    assert fields["exception.message"] == repr("missing\nkey")
    assert fields["exception.stacktrace"].startswith("Traceback (most recent call last):\n")


@pytest.mark.parametrize("message", NASTY_MESSAGES)
@isolated
def test_text_is_one_line_per_record(message: str) -> None:
    out = installed("text")
    with tracer().start_as_current_span("update") as span:
        log.info(message, extra={"user_count": 3, "text": "two words"})
    (line,) = lines(out)
    ctx = span.get_span_context()
    assert re.match(r"^\S+Z INFO  tests\.formats: ", line)
    assert f"[trace_id={ctx.trace_id:032x} span_id={ctx.span_id:016x}]" in line
    assert line.endswith(' user_count=3 text="two words"')


@isolated
def test_text_example_line_and_exception_on_following_lines() -> None:
    out = installed("text")
    log.info("handled update", extra={"key": "value"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.error("failed", exc_info=True)
    first, second, *trace = lines(out)
    assert re.fullmatch(r"\S+Z INFO  tests\.formats: handled update key=value", first)
    assert "[trace_id=" not in first
    assert re.fullmatch(r"\S+Z ERROR tests\.formats: failed", second)
    assert trace[0] == "Traceback (most recent call last):" and trace[-1] == "RuntimeError: boom"


@pytest.mark.parametrize("formatter_class", [JsonFormatter, TextFormatter, LogfmtFormatter])
@isolated
def test_formatter_never_raises(formatter_class: type[JsonFormatter]) -> None:
    """Bad arguments give a minimal line with an ``error`` field."""

    bad_args = logging.LogRecord("x", logging.INFO, "f", 1, "count %d", ("not a number",), None)
    line = formatter_class(service_name="s").format(bad_args)
    assert "count %d" in line and "TypeError" in line
    if formatter_class is JsonFormatter:
        assert json.loads(line)["error"] == "crocotel formatter failed: TypeError"
    if formatter_class is LogfmtFormatter:
        assert parse_logfmt(line)["error"].startswith("crocotel formatter failed")


class FailingRedactor(NullRedactor):
    """An engine that fails on every text: what it was given must not be written."""

    enabled = True

    def text(self, value: str, signal: str = "api") -> str:
        raise RuntimeError("redactor down")


@pytest.mark.parametrize("log_format", ["json", "text", "logfmt"])
@isolated
def test_a_failing_redactor_withholds_the_message(log_format: str) -> None:
    out = io.StringIO()
    install(
        log_format=log_format,
        log_level="INFO",
        service_name="s",
        redactor=FailingRedactor(),
        logger_provider=None,
        stream=out,
    )
    logging.getLogger("tests.formats").warning("secret stuff %s", "more", extra={"k": "secret extra"})
    text = out.getvalue()
    assert "secret stuff" not in text and "secret extra" not in text
    assert "<message withheld: redaction failed>" in text


@isolated
def test_bad_arguments_through_the_handler_still_write_a_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = installed("json")
    (handler,) = logging.root.handlers[-1:]  # called directly: pytest's own handler would raise here
    handler.handle(log.makeRecord(log.name, logging.INFO, "f", 1, "count %d", ("x",), None))
    record = json.loads(lines(out)[0])
    assert record["message"] == "count %d" and "TypeError" in record["error"]
    assert "Logging error" not in capsys.readouterr().err


@isolated
def test_stream_that_cannot_encode_gets_escaped_valid_lines() -> None:
    raw = io.BytesIO()
    ascii_stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict", write_through=True)
    install(
        log_format="json",
        log_level="INFO",
        service_name="s",
        redactor=NullRedactor(),
        logger_provider=None,
        stream=ascii_stream,  # type: ignore[arg-type]
    )
    log.warning("привет 🐊", extra={"who": "Алиса"})
    record = json.loads(raw.getvalue().decode("ascii"))
    assert record["message"] == "привет 🐊" and record["who"] == "Алиса"


@isolated
def test_lone_surrogate_on_a_utf8_stream_is_escaped_not_lost() -> None:
    raw = io.BytesIO()
    utf8 = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    for log_format in ("json", "text", "logfmt"):
        install(
            log_format=log_format,
            log_level="INFO",
            service_name="s",
            redactor=NullRedactor(),
            logger_provider=None,
            stream=utf8,  # type: ignore[arg-type]
        )
        log.warning("bad \udc80 byte, good ü")
    json_line, text_line, logfmt_line = raw.getvalue().decode("utf-8").splitlines()
    assert json.loads(json_line)["message"] == "bad \udc80 byte, good ü"
    assert text_line.endswith("bad \\udc80 byte, good ü")
    assert parse_logfmt(logfmt_line)["message"] == "bad \udc80 byte, good ü"
