"""Records per second through stdlib logging: crocotel's JSON lines against common formatters.

Every contender formats the same realistic bot record (aiogram's "update handled" message with
three arguments and two ``extra`` fields), logged inside an active SDK span, through a handler
on the root logger writing to a null stream, so what differs is the formatting path only.

- ``stdlib``: ``logging.StreamHandler`` + ``logging.Formatter`` (the floor)
- ``crocotel_json_redacted``: ``crocotel.logs.install(log_format="json")`` with the redaction
  engine (``crocotel.redaction.Redactor``; a fake one if that package is missing, and then the
  output says so), ids from the span, the last-resort check: the whole path an app gets
- ``crocotel_json``: the same without redaction
- ``app_format_redacted``: the app's own stdlib ``Formatter`` handler, each record redacted first
  by crocotel's record hook (what an app with ``basicConfig(format=...)`` pays for redaction)
- ``python_json_logger`` and ``python_json_logger_orjson``: its JsonFormatter / OrjsonFormatter
- ``structlog``: ``structlog.stdlib.ProcessorFormatter`` with ``JSONRenderer``

Prints one line per contender and a final JSON line with the figures and ratios.

    .venv/bin/python benchmarks/bench_logging.py [--records 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402

from crocotel.logs import install  # noqa: E402

MESSAGE = "Update id=%s is handled. Duration %d ms by bot id=%d"
ARGS = (731245698, 12, 5829161743)
EXTRA = {"update_type": "message", "chat_type": "private"}
FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
Setup = Callable[[], Callable[[], None]]  # installs a contender, returns its teardown


class NullStream:
    """A text stream that drops everything (no syscalls: only formatting is measured)."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def redaction() -> tuple[object, str]:
    """The real engine if it is there, else a fake of similar shape."""
    from crocotel.redaction.engine import NullRedactor

    try:
        from crocotel.redaction import Redactor
    except ImportError:  # pragma: no cover - the benchmark runs against a checkout
        return NullRedactor(), "none (redaction package missing)"
    return Redactor(), "crocotel.redaction.Redactor"


def plain_handler(formatter: logging.Formatter) -> Setup:
    def setup() -> Callable[[], None]:
        handler = logging.StreamHandler(NullStream())
        handler.setFormatter(formatter)
        logging.root.addHandler(handler)
        return lambda: logging.root.removeHandler(handler)

    return setup


def crocotel(redactor: object) -> Setup:
    def setup() -> Callable[[], None]:
        return install(
            log_format="json",
            log_level="INFO",
            service_name="bench-bot",
            redactor=redactor,  # type: ignore[arg-type]
            logger_provider=None,
            stream=NullStream(),  # type: ignore[arg-type]
        )

    return setup


def app_format_under_crocotel(redactor: object) -> Setup:
    """The app's own ``basicConfig(format=...)`` handler, with crocotel redacting each record first."""

    def setup() -> Callable[[], None]:
        uninstall = install(
            log_format="none",
            log_level="INFO",
            service_name="bench-bot",
            redactor=redactor,  # type: ignore[arg-type]
            logger_provider=None,
        )
        teardown = plain_handler(logging.Formatter(FIELDS))()

        def both() -> None:
            teardown()
            uninstall()

        return both

    return setup


class _DropExporter:
    """A log exporter that accepts and drops batches (the Collector's cost is not ours)."""

    def export(self, batch: object) -> object:
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _provider(redacted: bool) -> object:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    exporter: object = _DropExporter()
    if redacted:
        from crocotel.redaction import Redactor
        from crocotel.redaction.logs import RedactingLogExporter

        exporter = RedactingLogExporter(exporter, Redactor())  # type: ignore[arg-type]
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))  # type: ignore[arg-type]
    return provider


def crocotel_full() -> Setup:
    """What a bot under crocotel pays per record: JSON on stdout and the OTLP bridge, both redacted."""

    def setup() -> Callable[[], None]:
        from crocotel.redaction import Redactor

        provider = _provider(redacted=True)
        uninstall = install(
            log_format="json",
            log_level="INFO",
            service_name="bench-bot",
            redactor=Redactor(),
            logger_provider=provider,  # type: ignore[arg-type]
            stream=NullStream(),  # type: ignore[arg-type]
        )

        def teardown() -> None:
            uninstall()
            provider.shutdown()  # type: ignore[attr-defined]

        return teardown

    return setup


def stock_otel() -> Setup:
    """The stock path: stdlib formatter on stdout plus the SDK's LoggingHandler to OTLP, no redaction."""

    def setup() -> Callable[[], None]:
        from opentelemetry.sdk._logs import LoggingHandler

        provider = _provider(redacted=False)
        handler = logging.StreamHandler(NullStream())  # type: ignore[arg-type]
        handler.setFormatter(logging.Formatter(FIELDS))
        bridge = LoggingHandler(logger_provider=provider)  # type: ignore[arg-type]
        logging.root.addHandler(handler)
        logging.root.addHandler(bridge)
        logging.root.setLevel(logging.INFO)

        def teardown() -> None:
            logging.root.removeHandler(handler)
            logging.root.removeHandler(bridge)
            provider.shutdown()  # type: ignore[attr-defined]

        return teardown

    return setup


def pjl(orjson: bool) -> Setup:
    if orjson:
        from pythonjsonlogger.orjson import OrjsonFormatter

        return plain_handler(OrjsonFormatter(FIELDS))
    from pythonjsonlogger.json import JsonFormatter

    return plain_handler(JsonFormatter(FIELDS))


def structlog_setup() -> Setup:
    import structlog

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ExtraAdder(),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
    )
    return plain_handler(formatter)


def measure(setup: Setup, records: int) -> float:
    """Seconds per record for ``records`` logging calls made inside an active span."""
    tracer = TracerProvider().get_tracer("bench")
    logger = logging.getLogger("aiogram.event")
    teardown = setup()
    logging.root.setLevel(logging.INFO)
    try:
        with tracer.start_as_current_span("telegram.update message"):
            update_id, duration, bot_id = ARGS
            start = time.perf_counter()
            for i in range(records):  # a new update id each time, as in a real bot: no cache can help
                logger.info(MESSAGE, update_id + i, duration, bot_id, extra=EXTRA)
            return (time.perf_counter() - start) / records
    finally:
        teardown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    logging.root.handlers.clear()

    from crocotel.redaction.engine import NullRedactor

    engine_object, engine = redaction()
    contenders: dict[str, Setup] = {
        "stdlib": plain_handler(logging.Formatter(FIELDS)),
        "app_format_redacted": app_format_under_crocotel(engine_object),
        "crocotel_json_redacted": crocotel(engine_object),
        "crocotel_json": crocotel(NullRedactor()),
        "python_json_logger": pjl(orjson=False),
        "python_json_logger_orjson": pjl(orjson=True),
        "structlog": structlog_setup(),
        "crocotel_stdout_and_otlp": crocotel_full(),
        "stock_stdout_and_otlp": stock_otel(),
    }
    # Round-robin, best of the repeats: machine noise drifts over seconds and must not favour anyone.
    seconds = dict.fromkeys(contenders, float("inf"))
    for _ in range(options.repeats):
        for name, setup in contenders.items():
            seconds[name] = min(seconds[name], measure(setup, options.records))
    for name, value in seconds.items():
        print(f"{name:28s} {1 / value:>10,.0f} records/s  {value * 1e6:6.2f} µs/record")

    us = {name: round(value * 1e6, 3) for name, value in seconds.items()}

    def ratio(baseline: str, contender: str) -> float:
        return round(seconds[baseline] / seconds[contender], 2)

    result = {
        "benchmark": "logging",
        "records": options.records,
        "repeats": options.repeats,
        "redactor": engine,
        "records_per_second": {name: round(1 / value) for name, value in seconds.items()},
        "us_per_record": us,
        "added_us_per_record": {
            "crocotel_json_redacted_vs_stdlib": round(us["crocotel_json_redacted"] - us["stdlib"], 3),
            "app_format_redacted_vs_stdlib": round(us["app_format_redacted"] - us["stdlib"], 3),
            "crocotel_json_vs_stdlib": round(us["crocotel_json"] - us["stdlib"], 3),
            "crocotel_stdout_and_otlp_vs_stdlib": round(us["crocotel_stdout_and_otlp"] - us["stdlib"], 3),
            "stock_stdout_and_otlp_vs_stdlib": round(us["stock_stdout_and_otlp"] - us["stdlib"], 3),
        },
        "ratios": {  # how many times faster crocotel's JSON with redaction is (>1: faster)
            "vs_python_json_logger": ratio("python_json_logger", "crocotel_json_redacted"),
            "vs_python_json_logger_orjson": ratio("python_json_logger_orjson", "crocotel_json_redacted"),
            "vs_structlog": ratio("structlog", "crocotel_json_redacted"),
            "vs_stdlib": ratio("stdlib", "crocotel_json_redacted"),
            "unredacted_vs_python_json_logger": ratio("python_json_logger", "crocotel_json"),
            "unredacted_vs_stdlib": ratio("stdlib", "crocotel_json"),
        },
        "target_met": seconds["crocotel_json_redacted"] <= seconds["python_json_logger"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
