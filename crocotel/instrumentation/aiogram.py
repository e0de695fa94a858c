"""OpenTelemetry instrumentation for aiogram 3.x: updates, handlers, Bot API calls.

Loaded by ``opentelemetry-instrument`` through the ``opentelemetry_instrumentor``
entry point ``aiogram``; or by hand::

    from crocotel.instrumentation.aiogram import AiogramInstrumentor
    AiogramInstrumentor().instrument()

It wraps three places in aiogram, each in its own module:

- ``Dispatcher.feed_update``: the ``telegram.update {type}`` span, the outcome
  and the update metrics (``_aiogram_updates``);
- ``HandlerObject.call`` (inherited from ``CallableObject``; ours sits on
  ``HandlerObject`` over whatever the base holds, so filters never meet it):
  the ``telegram.handler {name}`` span and the handler duration
  (``_aiogram_handlers``);
- ``BaseSession.__call__``: the ``{method}`` CLIENT span per Bot API call and
  the API and polling metrics (``_aiogram_api``).

aiogram is never imported by us: when ``instrument()`` runs before the app has
imported it (always so under ``opentelemetry-instrument``), the patching waits
for the app's own import. Importing aiogram costs seconds of CPU, so a process
that merely has it installed must not pay for it. Every wrap goes through
:class:`~crocotel.instrumentation.wraps.Wraps`: made where the method is
defined, undone exactly.
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

__all__ = ["AiogramInstrumentor"]

_log = logging.getLogger("crocotel.instrumentation")

_INSTRUMENTS = ("aiogram >= 3, < 4",)


class AiogramInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments aiogram's dispatcher, handlers and Bot API session.

    Options of ``instrument()``: ``tracer_provider``, ``meter_provider``,
    ``trace_getupdates`` (trace every long poll; default False) and
    ``learn_phone`` (called with each phone number Telegram marked in a
    message, such as ``Redactor.learn_phone``). The distro passes the last two
    from crocotel's settings.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        """aiogram 3.x; opentelemetry-instrument skips us when it is missing."""
        return _INSTRUMENTS

    _waiting = False
    _wraps: Wraps | None = None

    def _instrument(self, **kwargs: Any) -> None:
        """Patch aiogram now if the app has imported it, else as soon as it does."""
        if "aiogram" in sys.modules:
            self._patch(**kwargs)
            return
        self._waiting = True

        def on_import(_module: object) -> None:
            if not self._waiting:
                return  # uninstrumented before the app imported aiogram
            self._waiting = False
            try:
                self._patch(**kwargs)
            except Exception:  # the app's import must go on whatever happens here
                _log.warning(
                    "crocotel: aiogram instrumentation failed; the bot runs without it", exc_info=True
                )

        register_post_import_hook(on_import, "aiogram")

    def _patch(self, **kwargs: Any) -> None:
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.session.base import BaseSession
        from aiogram.dispatcher.dispatcher import Dispatcher
        from aiogram.dispatcher.event.bases import UNHANDLED, CancelHandler, SkipHandler
        from aiogram.dispatcher.event.handler import HandlerObject
        from aiogram.exceptions import TelegramNetworkError
        from aiogram.types.error_event import ErrorEvent

        # imported with the framework, not before: a bot on another framework never loads them
        from crocotel.instrumentation._aiogram_api import ApiTracer
        from crocotel.instrumentation._aiogram_handlers import HandlerTracer
        from crocotel.instrumentation._aiogram_updates import UpdateTracer
        from crocotel.instrumentation._api_calls import ApiCalls
        from crocotel.instrumentation._context import DeliveredUpdates
        from crocotel.instrumentation._instruments import instruments_for
        from crocotel.instrumentation._updates import UpdateSpans

        tracer = trace.get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        instruments = instruments_for(kwargs.get("meter_provider"))
        delivered = DeliveredUpdates()
        listen_update = Dispatcher._listen_update

        def is_internal(callback: Any) -> bool:
            return getattr(callback, "__func__", None) is listen_update

        spans = UpdateSpans(tracer, instruments, delivered, kwargs.get("learn_phone"))
        updates = UpdateTracer(spans, UNHANDLED)
        handlers = HandlerTracer(tracer, instruments, is_internal, ErrorEvent, (SkipHandler, CancelHandler))
        calls = ApiCalls(tracer, instruments, delivered, bool(kwargs.get("trace_getupdates")))
        api = ApiTracer(calls, TelegramNetworkError)
        wraps = self._wraps = Wraps()
        wraps.wrap(Dispatcher, "feed_update", updates.feed_update)
        # inherited from CallableObject: ours on HandlerObject, over whatever the base holds (filters skip it)
        wraps.wrap(HandlerObject, "call", handlers.call)
        wraps.wrap(BaseSession, "__call__", api.call)
        wraps.wrap(BaseSession, "check_response", api.check_response)
        wraps.wrap(AiohttpSession, "create_session", api.create_session)

    def _uninstrument(self, **kwargs: Any) -> None:
        self._waiting = False
        if self._wraps is not None:
            self._wraps.undo()
            self._wraps = None
