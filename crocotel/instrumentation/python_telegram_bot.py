"""OpenTelemetry instrumentation for python-telegram-bot v20+: updates, handlers, jobs, Bot API calls.

Loaded by ``opentelemetry-instrument`` through the ``opentelemetry_instrumentor``
entry point ``python-telegram-bot``; or by hand::

    from crocotel.instrumentation.python_telegram_bot import PythonTelegramBotInstrumentor
    PythonTelegramBotInstrumentor().instrument()

The same spans and metrics as for aiogram (see docs/telegram.md); the
wrappers are in ``_ptb``. Each method is wrapped on the class that defines it
(``Application``, ``BaseHandler``, ``Job``, ``BaseRequest``, ``HTTPXRequest``),
so subclasses and later patches still go through it, and ``uninstrument()``
puts every class's ``__dict__`` back as it was (:mod:`crocotel.instrumentation.wraps`).

python-telegram-bot is never imported by us: when ``instrument()`` runs before
the app has imported it, the patching waits for the app's own import.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from wrapt import register_post_import_hook

from crocotel._version import __version__
from crocotel.instrumentation.wraps import Wraps

__all__ = ["PythonTelegramBotInstrumentor"]

_log = logging.getLogger("crocotel.instrumentation")

_INSTRUMENTS = ("python-telegram-bot >= 20, < 23",)


def _targets() -> list[tuple[type, str, str]]:
    """(class, method, wrapper name) of every place we wrap, each on the class that defines it."""
    from telegram.ext import Application, BaseHandler, Job
    from telegram.request import BaseRequest, HTTPXRequest

    return [
        (Application, "process_update", "process_update"),
        (Application, "process_error", "process_error"),
        (BaseHandler, "handle_update", "handle_update"),
        (Job, "run", "run_job"),
        (BaseRequest, "post", "post"),
        (HTTPXRequest, "do_request", "do_request"),
    ]


class PythonTelegramBotInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments python-telegram-bot's application, handlers, job queue and Bot API requests.

    Options of ``instrument()``: ``tracer_provider``, ``meter_provider``,
    ``trace_getupdates`` (trace every long poll; default False) and
    ``learn_phone`` (called with each phone number Telegram marked in a
    message). The distro passes the last two from crocotel's settings.
    """

    _waiting = False
    _wraps: Wraps | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """python-telegram-bot 20 to 22; opentelemetry-instrument skips us when it is missing."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        """Patch python-telegram-bot now if the app has imported it, else as soon as it does."""
        if "telegram.ext" in sys.modules:
            self._patch(**kwargs)
            return
        self._waiting = True

        def on_import(_module: object) -> None:
            if not self._waiting:
                return  # uninstrumented before the app imported python-telegram-bot
            self._waiting = False
            try:
                self._patch(**kwargs)
            except Exception:  # the app's import must go on whatever happens here
                _log.warning(
                    "crocotel: python-telegram-bot instrumentation failed; the bot runs without it",
                    exc_info=True,
                )

        register_post_import_hook(on_import, "telegram.ext")

    def _patch(self, **kwargs: Any) -> None:
        # imported with the framework, not before: a bot on another framework never loads them
        from telegram import error

        from crocotel.instrumentation._api_calls import ApiCalls
        from crocotel.instrumentation._context import DeliveredUpdates
        from crocotel.instrumentation._instruments import instruments_for
        from crocotel.instrumentation._ptb import PtbTracer
        from crocotel.instrumentation._updates import UpdateSpans

        tracer = trace.get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        instruments = instruments_for(kwargs.get("meter_provider"))
        delivered = DeliveredUpdates()
        updates = UpdateSpans(tracer, instruments, delivered, kwargs.get("learn_phone"))
        calls = ApiCalls(tracer, instruments, delivered, bool(kwargs.get("trace_getupdates")))
        tracer_of_ptb = PtbTracer(tracer, instruments, updates, calls, error)
        wraps = self._wraps = Wraps()
        for cls, method, wrapper in _targets():
            wraps.wrap(cls, method, getattr(tracer_of_ptb, wrapper))

    def _uninstrument(self, **kwargs: Any) -> None:
        self._waiting = False
        if self._wraps is not None:
            self._wraps.undo()
            self._wraps = None
