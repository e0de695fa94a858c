"""An app with no telemetry code that fails in the ways bots fail, run under opentelemetry-instrument.

Modes (argv[1]):
  thread    - a worker thread raises
  task      - an asyncio task raises and nobody retrieves the exception (the app set its own
              loop exception handler, which must still run: it prints APP-HANDLER)
  uncaught  - the main code raises (exits 1 with the usual traceback on stderr)
  span      - an exception escapes a task while a span is current in the task
Every exception message holds a planted bot token and phone number. Prints DONE unless uncaught.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from typing import Any

from opentelemetry import trace

TOKEN = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"
PHONE = "+14155550123"


def charge(order: int) -> None:
    raise RuntimeError(f"payment failed for order {order} token={TOKEN} phone {PHONE}")


def worker() -> None:
    charge(1)


async def background_job() -> None:
    await asyncio.sleep(0)
    charge(2)


async def traced_job() -> None:
    with trace.get_tracer("error_app").start_as_current_span("job"):
        await asyncio.sleep(0)
        charge(3)


async def run_task(job: Any) -> None:
    loop = asyncio.get_running_loop()

    def app_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        print("APP-HANDLER", type(context.get("exception")).__name__, flush=True)

    loop.set_exception_handler(app_handler)
    task = loop.create_task(job())
    await asyncio.sleep(0.05)
    assert task.done()
    del task
    gc.collect()  # the task's __del__ reports "Task exception was never retrieved"
    await asyncio.sleep(0)


def main() -> int:
    mode = sys.argv[1]
    if mode == "thread":
        thread = threading.Thread(target=worker, name="worker-1")
        thread.start()
        thread.join()
    elif mode == "task":
        asyncio.run(run_task(background_job))
    elif mode == "span":
        asyncio.run(run_task(traced_job))
    elif mode == "uncaught":
        charge(4)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
