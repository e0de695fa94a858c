"""install(): precedence beside the application's own logging configuration, and clean removal."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import warnings
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from crocotel.logs import StdoutHandler, install
from crocotel.logs.handler import is_crocotel
from crocotel.logs.otlp import OtlpHandler
from crocotel.redaction.engine import NullRedactor
from tests.logs_support import isolated, lines, tracer

app = logging.getLogger("app")
APP_FORMAT = "APP %(levelname)s %(name)s %(message)s trace=%(trace_id)s span=%(span_id)s"


def crocotel_install(
    stream: io.StringIO,
    log_format: str = "json",
    provider: LoggerProvider | None = None,
    log_level: str | None = "INFO",
) -> None:
    install(
        log_format=log_format,
        log_level=log_level,
        service_name="svc",
        redactor=NullRedactor(),
        logger_provider=provider,
        stream=stream,
    )


def memory_provider() -> tuple[LoggerProvider, InMemoryLogRecordExporter]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, exporter


def messages(stream: io.StringIO) -> list[str]:
    return [json.loads(line)["message"] for line in lines(stream)]


@isolated
def test_default_install_writes_json_at_crocotel_level() -> None:
    ours = io.StringIO()
    crocotel_install(ours)
    assert logging.root.level == logging.INFO
    app.debug("hidden")
    app.info("shown")
    assert messages(ours) == ["shown"]
    assert [type(h) for h in logging.root.handlers] == [StdoutHandler]


@isolated
def test_a_root_level_set_by_the_app_is_kept() -> None:
    logging.root.setLevel(logging.DEBUG)
    crocotel_install(io.StringIO(), log_level=None)
    assert logging.root.level == logging.DEBUG


@isolated
def test_no_level_changes_unless_crocotel_log_level_is_set() -> None:
    """Python's default root level stays: the app's handlers (and caplog) see what they saw."""
    theirs: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            theirs.append(record)

    app.addHandler(Keep())
    ours = io.StringIO()
    crocotel_install(ours, log_level=None)
    assert logging.root.level == logging.WARNING
    app.info("dropped, as without crocotel")
    app.warning("kept")
    assert [r.getMessage() for r in theirs] == ["kept"]
    uninstall = install(
        log_format="json", log_level="DEBUG", service_name="s", redactor=NullRedactor(), logger_provider=None
    )
    assert logging.root.level == logging.DEBUG  # asked for explicitly
    uninstall()
    assert logging.root.level == logging.WARNING


@isolated
def test_app_basicconfig_with_a_format_after_install_wins() -> None:
    """The opentelemetry-instrument order: crocotel first, then the app's basicConfig."""
    ours, theirs = io.StringIO(), io.StringIO()
    crocotel_install(ours)
    logging.basicConfig(level=logging.DEBUG, format=APP_FORMAT, stream=theirs)
    with tracer().start_as_current_span("update") as span:
        app.debug("in span")
    app.info("outside")
    logging.getLogger("aiohttp.access").info("third party")
    ctx = span.get_span_context()
    assert lines(theirs) == [
        f"APP DEBUG app in span trace={ctx.trace_id:032x} span={ctx.span_id:016x}",
        "APP INFO app outside trace= span=",
        "APP INFO aiohttp.access third party trace= span=",
    ]
    assert ours.getvalue() == ""  # stepped aside: nothing written twice
    assert logging.root.level == logging.DEBUG


@isolated
def test_app_basicconfig_with_only_a_level_keeps_crocotel_format() -> None:
    """``basicConfig(level=INFO, stream=sys.stdout)``, the aiogram idiom, asks for a level only."""
    ours, chosen = io.StringIO(), io.StringIO()
    crocotel_install(ours)
    logging.basicConfig(level=logging.DEBUG, stream=chosen)
    app.debug("debug now shown")
    assert ours.getvalue() == ""
    assert messages(chosen) == ["debug now shown"]  # JSON, on the stream the app chose
    assert [type(h) for h in logging.root.handlers] == [StdoutHandler]


@isolated
def test_basicconfig_force_with_a_format_replaces_and_crocotel_steps_aside() -> None:
    ours, theirs = io.StringIO(), io.StringIO()
    crocotel_install(ours)
    logging.basicConfig(format="%(message)s", stream=theirs, force=True)
    app.warning("w")
    assert lines(theirs) == ["w"] and ours.getvalue() == ""


@isolated
def test_app_configured_before_install_keeps_its_output_and_gets_ids() -> None:
    ours, theirs = io.StringIO(), io.StringIO()
    logging.basicConfig(level=logging.INFO, format=APP_FORMAT, stream=theirs)
    crocotel_install(ours)
    with tracer().start_as_current_span("update") as span:
        app.info("hello")
    assert ours.getvalue() == ""
    assert lines(theirs) == [
        f"APP INFO app hello trace={span.get_span_context().trace_id:032x} "
        f"span={span.get_span_context().span_id:016x}"
    ]


@isolated
def test_app_adding_a_root_handler_by_hand_takes_over_and_removing_it_gives_back() -> None:
    ours, theirs = io.StringIO(), io.StringIO()
    crocotel_install(ours)
    handler = logging.StreamHandler(theirs)
    logging.root.addHandler(handler)
    app.info("to the app")
    logging.root.removeHandler(handler)
    app.info("to crocotel")
    assert lines(theirs) == ["to the app"] and messages(ours) == ["to crocotel"]


@isolated
def test_dictconfig_of_named_loggers_only_leaves_the_rest_to_crocotel() -> None:
    ours, theirs = io.StringIO(), io.StringIO()
    crocotel_install(ours)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"mine": {"class": "logging.StreamHandler", "stream": theirs}},
            "loggers": {"app": {"handlers": ["mine"], "level": "INFO"}},
        }
    )
    app.info("app record")
    logging.getLogger("aiogram.dispatcher").info("library record")
    logging.getLogger("asyncio").warning("asyncio record")
    assert lines(theirs) == ["app record"]
    assert messages(ours) == ["library record", "asyncio record"]  # and no duplicate of the app's


@isolated
def test_dictconfig_with_root_handlers_takes_over_but_keeps_otlp_export() -> None:
    ours, theirs = io.StringIO(), io.StringIO()
    provider, exporter = memory_provider()
    crocotel_install(ours, provider=provider)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"mine": {"class": "logging.StreamHandler", "stream": theirs}},
            "root": {"handlers": ["mine"], "level": "INFO"},
        }
    )
    app.info("after dictConfig")
    assert lines(theirs) == ["after dictConfig"] and ours.getvalue() == ""
    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["after dictConfig"]
    assert sum(isinstance(h, OtlpHandler) for h in logging.root.handlers) == 1


@isolated
def test_fileconfig_keeps_otlp_export(tmp_path: Path) -> None:
    provider, exporter = memory_provider()
    crocotel_install(io.StringIO(), provider=provider)
    ini = tmp_path / "logging.ini"
    ini.write_text(
        "[loggers]\nkeys=root\n[handlers]\nkeys=null\n[formatters]\nkeys=\n"
        "[logger_root]\nlevel=INFO\nhandlers=null\n"
        "[handler_null]\nclass=NullHandler\nargs=()\n"
    )
    logging.config.fileConfig(ini, disable_existing_loggers=False)
    app.info("after fileConfig")
    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["after fileConfig"]


@isolated
def test_basicconfig_after_install_keeps_otlp_export_even_with_format_none() -> None:
    provider, exporter = memory_provider()
    theirs = io.StringIO()
    crocotel_install(io.StringIO(), log_format="none", provider=provider)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=theirs)  # not a no-op
    app.info("both")
    assert lines(theirs) == ["both"]
    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["both"]


@isolated
def test_library_null_handler_does_not_silence_crocotel_but_root_null_handler_does() -> None:
    ours = io.StringIO()
    crocotel_install(ours)
    library = logging.getLogger("somelib")
    library.addHandler(logging.NullHandler())
    try:
        library.warning("from a library")
        logging.root.addHandler(null := logging.NullHandler())
        library.warning("silenced by the app")
        logging.root.removeHandler(null)
    finally:
        library.handlers.clear()
    assert messages(ours) == ["from a library"]


@isolated
def test_the_sdk_otlp_handler_on_root_does_not_count_as_output() -> None:
    ours = io.StringIO()
    crocotel_install(ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sdk_handler = LoggingHandler(logger_provider=LoggerProvider(shutdown_on_exit=False))
    logging.root.addHandler(sdk_handler)
    app.info("still ours")
    logging.root.removeHandler(sdk_handler)
    assert messages(ours) == ["still ours"]


@isolated
def test_third_party_loggers_propagate_to_crocotel() -> None:
    ours = io.StringIO()
    crocotel_install(ours)
    for name in ("aiohttp.client", "aiogram.event", "asyncio", "httpx"):
        logging.getLogger(name).warning("hello from %s", name)
    assert [json.loads(line)["logger"] for line in lines(ours)] == [
        "aiohttp.client",
        "aiogram.event",
        "asyncio",
        "httpx",
    ]


@isolated
def test_format_none_leaves_handlers_and_level_alone_but_records_get_ids() -> None:
    theirs = io.StringIO()
    handler = logging.StreamHandler(theirs)
    handler.setFormatter(logging.Formatter("%(message)s [%(trace_id)s/%(span_id)s]"))
    logging.root.addHandler(handler)
    before = logging.root.handlers[:]
    crocotel_install(io.StringIO(), log_format="none", log_level=None)
    assert logging.root.handlers == before and logging.root.level == logging.WARNING
    with tracer().start_as_current_span("update") as span:
        app.warning("in span")
    app.warning("outside")
    ctx = span.get_span_context()
    assert lines(theirs) == [f"in span [{ctx.trace_id:032x}/{ctx.span_id:016x}]", "outside [/]"]


@isolated
def test_second_install_replaces_the_first_and_uninstall_restores_everything() -> None:
    factory, basic, dict_config = (
        logging.getLogRecordFactory(),
        logging.basicConfig,
        logging.config.dictConfig,
    )
    first, second = io.StringIO(), io.StringIO()
    provider, _ = memory_provider()
    crocotel_install(first, provider=provider)
    uninstall = install(
        log_format="logfmt",
        log_level="WARNING",
        service_name="svc",
        redactor=NullRedactor(),
        logger_provider=provider,
        stream=second,
    )
    assert sorted(type(h).__name__ for h in logging.root.handlers) == ["OtlpHandler", "StdoutHandler"]
    app.warning("once")
    assert first.getvalue() == "" and second.getvalue().startswith("timestamp=")
    uninstall()
    uninstall()  # idempotent
    assert not any(is_crocotel(h) for h in logging.root.handlers)
    assert logging.root.level == logging.WARNING
    assert logging.getLogRecordFactory() is factory
    assert logging.basicConfig is basic and logging.config.dictConfig is dict_config


@isolated
def test_uninstall_leaves_a_level_the_app_changed() -> None:
    uninstall = install(
        log_format="json",
        log_level="INFO",
        service_name="svc",
        redactor=NullRedactor(),
        logger_provider=None,
        stream=io.StringIO(),
    )
    logging.root.setLevel(logging.ERROR)
    uninstall()
    assert logging.root.level == logging.ERROR


@pytest.mark.parametrize(("log_format", "log_level"), [("xml", "INFO"), ("json", "LOUD")])
@isolated
def test_bad_arguments_are_refused(log_format: str, log_level: str) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        install(
            log_format=log_format,
            log_level=log_level,
            service_name="svc",
            redactor=NullRedactor(),
            logger_provider=None,
        )
    assert logging.root.handlers == [h for h in logging.root.handlers if not is_crocotel(h)]
