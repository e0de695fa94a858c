"""Telegram instrumentation: aiogram updates and handlers, and Bot API calls over aiohttp.

- ``aiogram``: the ``opentelemetry_instrumentor`` entry point for aiogram 3.x
  (update, handler and Bot API spans, outcomes, the ``telegram.*`` metrics).
- ``telegram``: hooks the distro gives the aiohttp-client instrumentation, so
  bots on plain aiohttp get method-named Bot API spans and the same API metrics.
- ``botapi``: the shared vocabulary (update types, method names, error classes).
- ``instruments``: the metric instruments both share.

Names follow /work/shared/DESIGN.md section 3; docs/telegram.md lists them.
"""
