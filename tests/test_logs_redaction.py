"""Redaction reaches every part of every log output: message, args, extras, exception text.

A planted marker must vanish from all outputs while positive-control strings logged beside it
stay, so the test cannot pass by writing nothing; and without a redactor the marker shows,
so it cannot pass because the marker never made it into the record.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from crocotel.logs import install
from crocotel.redaction.engine import NullRedactor
from tests.logs_support import MARKER, MASK, FakeRedactor, isolated, lines, parse_logfmt

log = logging.getLogger("tests.redaction")
CONTROLS = ("control-message", "control-arg", "control-extra", "control-nested", "control-exception")
SECRETS = ("hunter2", "sk-live-abc", "Bearer xyz")


class Carrier:
    """An object whose text (not repr) contains the marker."""

    def __str__(self) -> str:
        return f"carrier of {MARKER}"


def log_everything() -> None:
    log.warning(
        f"control-message {MARKER} %s",
        f"control-arg {MARKER}",
        extra={
            "note": f"control-extra {MARKER}",
            "nested": {"list": ["control-nested", MARKER], MARKER: "marker as a key"},
            "object": Carrier(),
            "raw": MARKER.encode(),
            "password": "hunter2",
            "api_key": "sk-live-abc",
            "headers": {"Authorization": "Bearer xyz"},
        },
        stack_info=True,
    )
    try:
        raise ValueError(f"control-exception {MARKER}")
    except ValueError:
        log.exception("failed with %s", MARKER)


def run(log_format: str, redactor: NullRedactor) -> tuple[str, list[dict[str, object]]]:
    out = io.StringIO()
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    install(
        log_format=log_format,
        log_level="INFO",
        service_name="svc",
        redactor=redactor,
        logger_provider=provider,
        stream=out,
    )
    log_everything()
    otlp = [json.loads(r.to_json()) for r in exporter.get_finished_logs()]
    return out.getvalue(), otlp


@isolated
@pytest.mark.parametrize("log_format", ["json", "text", "logfmt"])
def test_marker_and_secrets_vanish_from_stdout_and_otlp(log_format: str) -> None:
    stdout, otlp = run(log_format, FakeRedactor())
    exported = json.dumps(otlp, ensure_ascii=False)
    for output in (stdout, exported):
        assert MARKER not in output
        for secret in SECRETS:
            assert secret not in output
        for control in CONTROLS:
            assert control in output
        assert MASK in output and "[REDACTED:secret]" in output
    assert "marker as a key" in stdout  # the nested key itself was redacted, the value kept


@isolated
@pytest.mark.parametrize("log_format", ["json", "text", "logfmt"])
def test_without_a_redactor_the_marker_shows(log_format: str) -> None:
    stdout, otlp = run(log_format, NullRedactor())
    assert MARKER in stdout and MARKER in json.dumps(otlp)
    assert "hunter2" in stdout


@isolated
def test_each_json_field_is_redacted() -> None:
    stdout, otlp = run("json", FakeRedactor())
    first, second = (json.loads(line) for line in lines(io.StringIO(stdout)))
    assert first["message"] == f"control-message {MASK} control-arg {MASK}"
    assert first["note"] == f"control-extra {MASK}"
    assert first["nested"] == {"list": ["control-nested", MASK], MASK: "marker as a key"}
    assert first["object"] == f"carrier of {MASK}" and first["raw"] == MASK
    assert first["password"] == first["api_key"] == "[REDACTED:secret]"
    assert first["headers"] == {"Authorization": "[REDACTED:secret]"}
    assert MASK not in first["stack_info"] and "Stack (most recent call last)" in first["stack_info"]
    assert second["message"] == f"failed with {MASK}"
    assert second["exception"]["message"] == f"control-exception {MASK}"
    assert second["exception"]["stacktrace"].endswith(f"ValueError: control-exception {MASK}")
    body_and_attributes = otlp[1]
    assert body_and_attributes["body"] == f"failed with {MASK}"
    assert body_and_attributes["attributes"]["exception.message"] == f"control-exception {MASK}"
    assert otlp[0]["attributes"]["password"] == "[REDACTED:secret]"


@isolated
def test_logfmt_fields_are_redacted() -> None:
    stdout, _ = run("logfmt", FakeRedactor())
    first, second = (parse_logfmt(line) for line in stdout.splitlines())
    assert first["message"] == f"control-message {MASK} control-arg {MASK}"
    assert first["password"] == "[REDACTED:secret]"
    assert second["exception.message"] == f"control-exception {MASK}"


@isolated
def test_no_cache_hides_a_phone_learnt_later() -> None:
    """A number the rules leave alone is redacted in every record logged after it is learnt."""
    from crocotel.redaction import Redactor

    redactor = Redactor()
    out = io.StringIO()
    install(
        log_format="json",
        log_level="INFO",
        service_name="s",
        redactor=redactor,
        logger_provider=None,
        stream=out,
    )
    log.warning("call 89161234567 private")  # bare number: the rules leave it
    redactor.learn_phone("89161234567")
    log.warning("call 89161234567 private")
    before, after = (json.loads(line)["message"] for line in lines(out))
    assert before == "call 89161234567 private"
    assert after == "call [REDACTED:phone] private"
