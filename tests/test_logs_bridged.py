"""The OTLP bridge's direct route: records handed straight to crocotel's encoding processors
export exactly what the SDK's route exports, and the SDK's route takes over when it must."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as LogRecordMessage
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits
from opentelemetry.sdk._logs._internal import _LoggerConfig
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource

from crocotel.logs import install
from crocotel.logs.otlp import BridgedRecord
from crocotel.processors import _EncodingLogProcessor
from crocotel.protobuf import Encoded, LogEncoder
from crocotel.redaction.engine import Redactor
from crocotel.redaction.logs import LogScrubber
from tests.logs_support import isolated, tracer

log = logging.getLogger("tests.bridged")


class Recording(_EncodingLogProcessor):
    """crocotel's encoding processor, keeping what it queues and what it was handed."""

    def __init__(self) -> None:
        self.queued: list[Encoded] = []
        self.handed: list[type] = []
        self.encoder = LogEncoder()
        super().__init__(
            BatchLogRecordProcessor(InMemoryLogRecordExporter()),
            self.queued.append,
            LogScrubber(Redactor()).redact,
            self.encoder.item,
            lambda: None,
        )

    def on_emit(self, log_record: Any) -> None:
        self.handed.append(type(log_record))
        super().on_emit(log_record)


def provider(processor: Any, stream: io.StringIO | None = None, **options: Any) -> LoggerProvider:
    """crocotel's logging on a provider with ``processor``, JSON lines to ``stream`` (or nowhere)."""
    made = LoggerProvider(resource=Resource({"service.name": "svc"}), shutdown_on_exit=False, **options)
    made.add_log_record_processor(processor)
    install(
        log_format="json",
        log_level="DEBUG",
        service_name="svc",
        redactor=Redactor(),
        logger_provider=made,
        stream=stream if stream is not None else io.StringIO(),
    )
    logging.root.setLevel(logging.DEBUG)
    return made


def log_everything() -> None:
    """Records of every shape the bridge meets."""
    log.info("plain %s and %d", "text", 7)
    log.warning("with extras", extra={"update_type": "message", "n": 3, "ok": True, "ratio": 0.5})
    with tracer().start_as_current_span("update"):
        log.info("in a span, phone +7 916 123-45-67 and token 123456789:AAH4fMGyzxSSeqwVHhGLQTkfNtJGBmCDEJc")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    nested = {"payload": {"a": [1, 2], "b": None, "": "empty key"}, "items": [1, "x"]}
    log.error("nested extras", extra=nested)
    log.log(25, "custom level")


def messages(processor: Recording) -> list[LogRecordMessage]:
    """What was queued, decoded, with the two values that differ from run to run set aside."""
    decoded = []
    for item in processor.queued:
        message = LogRecordMessage.FromString(item[0])
        message.observed_time_unix_nano = 0
        message.time_unix_nano = 0
        message.trace_id = message.span_id = b"\x01" if message.trace_id else b""
        for attribute in message.attributes:
            if attribute.key in ("code.line.number", "exception.stacktrace"):
                attribute.value.Clear()
        decoded.append(message)
    return decoded


def run_both(monkeypatch: pytest.MonkeyPatch, **options: Any) -> tuple[Recording, Recording]:
    direct = Recording()
    provider(direct, **options)
    log_everything()
    with monkeypatch.context() as patch:
        patch.setattr(_EncodingLogProcessor, "takes_bridged_records", False)
        sdk = Recording()
        provider(sdk, **options)
        log_everything()
    return direct, sdk


@isolated
def test_direct_route_exports_what_the_sdk_route_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    direct, sdk = run_both(monkeypatch)
    assert len(direct.queued) == 6
    assert messages(direct) == messages(sdk)
    assert BridgedRecord in direct.handed, "the direct route was not taken"
    assert BridgedRecord not in sdk.handed
    text = b"".join(item[0] for item in direct.queued)
    assert b"916 123" not in text and b"AAH4fMGyzx" not in text and b"in a span" in text
    (resource, scope, _), (sdk_resource, _, _) = (p.encoder.unqueued(p.queued[0]) for p in (direct, sdk))
    assert resource is sdk_resource or resource.attributes == sdk_resource.attributes
    assert scope.name == "tests.bridged"


@isolated
def test_nested_values_and_limits_take_the_sdk_route(monkeypatch: pytest.MonkeyPatch) -> None:
    direct, sdk = run_both(monkeypatch, log_record_limits=LogRecordLimits(max_attributes=4))
    assert messages(direct) == messages(sdk)
    dropped = [m.dropped_attributes_count for m in messages(direct)]
    assert any(dropped), "the limit dropped nothing: the test lost its point"
    assert direct.handed.count(BridgedRecord) < len(direct.handed)


@isolated
def test_a_processor_added_later_gets_every_record() -> None:
    ours = Recording()
    made = provider(ours)
    log.info("before")
    later = InMemoryLogRecordExporter()
    made.add_log_record_processor(SimpleLogRecordProcessor(later))
    log.info("after", extra={"k": "v"})
    assert [r.log_record.body for r in later.get_finished_logs()] == ["after"]
    assert ours.handed[0] is BridgedRecord and ours.handed[1] is not BridgedRecord
    assert len(ours.queued) == 2


@isolated
def test_a_disabled_logger_emits_nothing() -> None:
    ours = Recording()
    made = provider(ours)
    log.info("on")
    made._set_logger_configurator(logger_configurator=lambda scope: _LoggerConfig(is_enabled=False))
    log.info("off")
    assert len(ours.queued) == 1
