"""An app with no telemetry code that plants a bot token and phone numbers on every path.

Run under opentelemetry-instrument by tests/test_leaks.py. Every planted value sits next
to a positive-control word (CONTROL_*) that must survive, so the test cannot pass by
exporting nothing.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import os
import sys

import aiohttp
from opentelemetry import metrics, trace
from opentelemetry.trace import Status, StatusCode

TOKEN = os.environ["PLANTED_TOKEN"]
PHONE = "+44 20 7946 0958"
PHONE_DIGITS = 447911123456
API = os.environ["TELEGRAM_API_URL"]

log = logging.getLogger("leak_app")


async def call_api() -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{API}/bot{TOKEN}/getMe") as response:
            await response.json()
        try:
            async with session.post(f"{API}/bot{TOKEN}/noSuchMethod") as response:
                response.raise_for_status()
        except aiohttp.ClientResponseError:
            log.exception("CONTROL_EXCEPTION Bot API call failed")


APP_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def configure_logging(style: str) -> None:
    """Logging set up the ways bots do it (LOGGING_STYLE)."""
    if style == "aiogram":  # level only: crocotel keeps formatting
        logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    elif style == "ptb":  # python-telegram-bot's examples: the app's format, on stderr
        logging.basicConfig(format=APP_FORMAT, level=logging.INFO)
    elif style == "dictconfig":
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"app": {"format": "APPFMT %(levelname)s %(name)s: %(message)s"}},
                "handlers": {
                    "out": {
                        "class": "logging.StreamHandler",
                        "formatter": "app",
                        "stream": "ext://sys.stdout",
                    }
                },
                "root": {"level": "INFO", "handlers": ["out"]},
            }
        )
    else:
        raise SystemExit(f"unknown LOGGING_STYLE {style!r}")


def main() -> int:
    configure_logging(os.environ.get("LOGGING_STYLE", "aiogram"))
    tracer = trace.get_tracer("leak_app")
    with tracer.start_as_current_span(f"CONTROL_SPAN handle {TOKEN}") as span:
        span.set_attribute("control.attr", f"CONTROL_ATTR call {PHONE}")
        span.set_attribute("http.url", f"{API}/bot{TOKEN}/sendMessage")
        span.add_event("CONTROL_EVENT", {"detail": f"token {TOKEN} phone {PHONE}"})
        span.set_status(Status(StatusCode.ERROR, f"CONTROL_STATUS failed for {PHONE}"))
        log.info("CONTROL_MESSAGE user shared %s", PHONE)
        log.info(
            "CONTROL_EXTRA update",
            extra={"contact": PHONE, "phone_number": PHONE_DIGITS, "nested": {"token": TOKEN, "note": PHONE}},
        )
        log.info(f"CONTROL_FSTRING url {API}/bot{TOKEN}/sendMessage")
        # httpx's request line, as python-telegram-bot users get it
        logging.getLogger("httpx").info(
            'CONTROL_HTTPX HTTP Request: %s %s "%s %d %s"',
            "POST",
            f"{API}/bot{TOKEN}/getUpdates",
            "HTTP/1.1",
            200,
            "OK",
        )
        try:
            raise ValueError(f"CONTROL_RAISE bad token {TOKEN} for {PHONE}")
        except ValueError:
            log.exception("CONTROL_TRACEBACK handler failed")
        asyncio.run(call_api())
        counter = metrics.get_meter("leak_app").create_counter("leak.things")
        counter.add(1, {"label": f"CONTROL_LABEL {TOKEN} {PHONE}"})
    print("READY", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
