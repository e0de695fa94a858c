"""An app that leaves a long queue of phone-laden spans behind when it exits with the Collector down.

Run under opentelemetry-instrument by tests/test_exit_status.py: the export thread is still
redacting that queue when the flush deadline passes and the interpreter finalizes.
argv: number of spans.
"""

from __future__ import annotations

import sys

from opentelemetry import trace

PAYLOAD = "call +44 20 7946 0958 order 1234567 " * 60  # slow to redact: digits and phones


def main() -> int:
    tracer = trace.get_tracer("busy_exit_app")
    for _ in range(int(sys.argv[1])):
        with tracer.start_as_current_span("work") as span:
            span.set_attribute("payload", PAYLOAD)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
