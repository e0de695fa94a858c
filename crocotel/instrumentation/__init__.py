"""Telegram instrumentation: updates, handlers and Bot API calls for aiogram, python-telegram-bot
and plain aiohttp bots, with one vocabulary across spans, metrics and logs (docs/telegram.md).

- ``aiogram``, ``python_telegram_bot``: the ``opentelemetry_instrumentor`` entry points (update,
  handler and Bot API spans, outcomes, the ``telegram.*`` metrics); their wrappers live in
  ``_aiogram_*`` and ``_ptb``, what both share in ``_updates`` and ``_api_calls``.
- ``aiohttp_client``: the hooks the distro gives the aiohttp-client instrumentation, so bots on
  plain aiohttp get method-named Bot API spans and the same API metrics.
- ``_vocabulary``: the names (update types, methods, attribute keys, error classes);
  ``_instruments``: the metric instruments every framework records on.
"""
