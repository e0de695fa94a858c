"""A plain-aiohttp bot loop run under opentelemetry-instrument, driven from stdin by the health tests.

It calls ``getMe`` on the Bot API at ``TELEGRAM_API_URL`` (so crocotel sees the
bot's loop through its Bot API hooks), polls ``getUpdates`` with ``POLL_TIMEOUT``,
prints READY, then obeys stdin lines:
  block    - block the event loop (a synchronous wait) until ``release``
  release  - let the loop run again
  metric N - add N distinct attribute values to the counter ``app.requests`` (then prints DONE)
  rss      - print this process's resident memory in bytes
EOF stops it. Nothing else is printed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import aiohttp
from opentelemetry import metrics

released = threading.Event()


def block() -> None:
    released.wait(60)  # bounded: the test releases it, or it gives up
    released.clear()


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def poll(session: aiohttp.ClientSession, base: str, timeout: int) -> None:
    offset = 0
    while True:
        try:
            async with session.post(f"{base}/getUpdates", json={"offset": offset, "timeout": timeout}) as r:
                answer = await r.json()
            for update in answer.get("result", []) if answer.get("ok") else []:
                offset = update["update_id"] + 1
            if not answer.get("ok"):
                await asyncio.sleep(0.2)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            await asyncio.sleep(0.2)


async def main() -> None:
    loop = asyncio.get_running_loop()
    base = f"{os.environ['TELEGRAM_API_URL']}/bot{os.environ['BOT_TOKEN']}"
    counter = metrics.get_meter("loop_app").create_counter("app.requests")
    done = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/getMe") as response:
            await response.read()
        poller = asyncio.create_task(poll(session, base, int(os.environ.get("POLL_TIMEOUT", "1"))))
        print("READY", flush=True)

        def commands() -> None:
            next_value = 0
            for line in sys.stdin:
                word, _, arg = line.strip().partition(" ")
                if word == "block":
                    loop.call_soon_threadsafe(block)
                elif word == "release":
                    released.set()
                elif word == "metric":
                    for _ in range(int(arg)):
                        counter.add(1, {"user": f"user-{next_value}"})
                        next_value += 1
                    print("DONE", flush=True)
                elif word == "rss":
                    print(rss(), flush=True)
            loop.call_soon_threadsafe(done.set)

        threading.Thread(target=commands, daemon=True).start()
        await done.wait()
        poller.cancel()


if __name__ == "__main__":
    asyncio.run(main())
