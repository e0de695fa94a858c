"""A tiny app with no telemetry code, run under opentelemetry-instrument by the tests.

Modes (argv[1]):
  serve  - make one span and one histogram sample, print READY, exit when stdin closes
  burst  - make N spans (argv[2]), print READY, then sleep until a signal arrives
  exit   - make N spans (argv[2]) and return normally
Set APP_SIGTERM_EXIT=<code> to install the app's own SIGTERM handler that exits with that code.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

from opentelemetry import metrics, trace


def make_spans(count: int) -> None:
    tracer = trace.get_tracer("span_app")
    for i in range(count):
        with tracer.start_as_current_span(f"work {i}") as span:
            span.set_attribute("app.index", i)


def main() -> int:
    mode = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    code = os.environ.get("APP_SIGTERM_EXIT")
    if code is not None:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(int(code)))
    logging.getLogger("span_app").warning("app started in mode %s", mode)
    if mode == "serve":
        histogram = metrics.get_meter("span_app").create_histogram("app.work.duration", unit="s")
        histogram.record(0.042, {"step": "handler"})
        make_spans(1)
        print("READY", flush=True)
        sys.stdin.read()
    elif mode == "burst":
        make_spans(count)
        print("READY", flush=True)
        for _ in range(600):
            time.sleep(0.1)
    else:
        make_spans(count)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
