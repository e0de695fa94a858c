"""An app that makes spans in waves while its Collector is down, printing its resident memory.

Run under opentelemetry-instrument by tests/test_sdk_queue_bound.py. argv: waves, spans per
wave. After each wave it prints ``RSS <wave> <bytes>``; then READY, and it exits when stdin
closes.
"""

from __future__ import annotations

import gc
import os
import sys

from opentelemetry import trace

PAYLOAD = "q" * 1024  # about 1 KiB a span: a queue that kept everything would grow visibly


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> int:
    waves, per_wave = int(sys.argv[1]), int(sys.argv[2])
    tracer = trace.get_tracer("queue_app")
    for wave in range(waves):
        for i in range(per_wave):
            with tracer.start_as_current_span("work") as span:
                span.set_attribute("payload", PAYLOAD)
                span.set_attribute("index", i)
        gc.collect()
        print(f"RSS {wave} {rss_bytes()}", flush=True)
    print("READY", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
