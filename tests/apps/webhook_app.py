"""crocbot in webhook mode, first printing what a bot could notice about aiohttp, asyncio and mimetypes.

Prints one line ``FACTS {json}``; when BOT_TOKEN is set it then runs examples.crocbot, which
serves the webhook when WEBHOOK_URL is set. No telemetry code: the tests run it plain and
under opentelemetry-instrument and compare the facts.
"""

from __future__ import annotations

import mimetypes
import os
import sys

facts: dict[str, object] = {
    "mimetypes_inited_at_start": mimetypes.inited,
    "aiohttp_web_loaded_at_start": "aiohttp.web" in sys.modules,
}

import asyncio  # noqa: E402 - the facts above must be taken before any import
import json  # noqa: E402

from aiohttp import web, web_app  # noqa: E402

facts.update(
    same_class=web.Application is web_app.Application,
    app_class=f"{type(web.Application()).__module__}.{type(web.Application()).__qualname__}",
    class_attributes=sorted(vars(web_app.Application)),
    middlewares=len(web.Application().middlewares),
    handle_wrapped=hasattr(vars(web_app.Application)["_handle"], "__wrapped__"),
    create_task_wrapped=hasattr(asyncio.create_task, "__wrapped__"),
)
print("FACTS", json.dumps(facts), flush=True)

if __name__ == "__main__" and os.environ.get("BOT_TOKEN"):
    from examples.crocbot.__main__ import main

    raise SystemExit(main())
