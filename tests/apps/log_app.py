"""A tiny app with no telemetry code that logs, run under opentelemetry-instrument by the tests.

Modes (argv[1]) say how the app configures logging, after crocotel has started:
  none          - not at all
  basic-format  - logging.basicConfig(level=INFO, format=APP_FORMAT): the app owns its lines
  basic-level   - logging.basicConfig(level=DEBUG, stream=sys.stdout): the aiogram idiom
  basic-force   - basic-format with force=True: replaces whatever configured the root before
It logs inside a span, outside, from a library logger and with an exception, then prints DONE.
"""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace

APP_FORMAT = "APP|%(levelname)s|%(name)s|%(message)s|%(trace_id)s|%(span_id)s"


def main() -> int:
    mode = sys.argv[1]
    if mode == "basic-format":
        logging.basicConfig(level=logging.INFO, format=APP_FORMAT, stream=sys.stdout)
    elif mode == "basic-force":
        logging.basicConfig(level=logging.INFO, format=APP_FORMAT, stream=sys.stdout, force=True)
    elif mode == "basic-level":
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
    log = logging.getLogger("log_app")
    with trace.get_tracer("log_app").start_as_current_span("handle update"):
        log.info("handled update %d", 7, extra={"update_type": "message"})
        log.debug("debug detail")
    logging.getLogger("aiohttp.client").warning("library says hi")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
