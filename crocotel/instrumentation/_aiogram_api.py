"""aiogram's Bot API calls (``BaseSession.__call__``) as the ``{method}`` CLIENT spans of ``_api_calls``.

The span sits above aiogram's request middlewares and the HTTP request; the
aiohttp-client instrumentation is suppressed below it, so the call has one
span. ``BaseSession.check_response`` tells the HTTP status of every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from crocotel.instrumentation._api_calls import ApiCalls, Failure, current_call
from crocotel.instrumentation._vocabulary import description_class, error_type
from crocotel.instrumentation.aiohttp_client import INSTRUMENTATION_MARK

__all__ = ["ApiTracer"]

_STATUS = "_crocotel_error_code"
_STRIPPED = "_crocotel_session_stripped"
_MAX_ANSWER_TYPES = 256
# Error codes by aiogram exception class, for answers whose status we did not see.
_CODES = {
    "TelegramBadRequest": 400,
    "TelegramMigrateToChat": 400,
    "TelegramUnauthorizedError": 401,
    "TelegramForbiddenError": 403,
    "TelegramNotFound": 404,
    "TelegramConflictError": 409,
    "TelegramEntityTooLarge": 413,
    "TelegramRetryAfter": 429,
    "TelegramServerError": 500,
    "RestartingTelegram": 500,
}


def failure_of(exc: BaseException, network_error: type) -> Failure:
    """What an exception out of ``BaseSession.__call__`` says about the call."""
    kind = error_type(exc)
    if isinstance(exc, asyncio.CancelledError) or not isinstance(exc, Exception):
        return Failure("cancelled", kind)
    if isinstance(exc, network_error):
        return Failure("network_error", kind)
    code = getattr(exc, _STATUS, None)
    retry_after = getattr(exc, "retry_after", None)
    return Failure(
        "error",
        kind,
        code if isinstance(code, int) else _CODES.get(type(exc).__name__),
        retry_after if isinstance(retry_after, int) else None,
        description_class(getattr(exc, "message", None)),
    )


class ApiTracer:
    """Wraps ``BaseSession.__call__`` (the span) and ``BaseSession.check_response`` (the status code)."""

    def __init__(self, calls: ApiCalls, network_error: type) -> None:
        self._calls = calls
        self._network_error = network_error
        self._answer_types: set[type] = set()

    async def create_session(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """aiogram's aiohttp session, without the HTTP instrumentation's trace configs.

        Every call through it is traced and counted here, above the HTTP layer, and the HTTP
        instrumentation is suppressed below; its trace configs would still make aiohttp build
        trace objects and send six signals per request for callbacks that return at once
        (about 60 µs per call in a profile of crocbot). The application's own trace configs stay.
        """
        session = await wrapped(*args, **kwargs)
        try:
            if instance.__dict__.get(_STRIPPED) is not session:
                configs = session._trace_configs
                session._trace_configs = [c for c in configs if not getattr(c, INSTRUMENTATION_MARK, False)]
                instance.__dict__[_STRIPPED] = session
        except Exception:  # another aiohttp: the session keeps its trace configs, nothing breaks
            pass
        return session

    def check_response(self, wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        """Note the HTTP status of the answer, and keep it on the exception aiogram raises for an error.

        It also keeps the class of each successful answer alive. aiogram
        parses answers with ``Response[T]``, a generic pydantic model that
        pydantic caches only weakly; when the garbage collector frees it, the
        next call builds it again (about a millisecond of schema work). The
        more a process allocates, the more often that happens, and telemetry
        allocates: without this, instrumenting a busy bot made aiogram rebuild
        ``Response[Message]`` for one reply in six. There is one class per
        result type, a few dozen at most.
        """
        status = kwargs.get("status_code", args[2] if len(args) > 2 else None)
        call = current_call()
        if call is not None and isinstance(status, int):
            call.status = status
        try:
            response = wrapped(*args, **kwargs)
        except Exception as exc:
            if isinstance(status, int):
                with contextlib.suppress(Exception):  # an exception type that takes no attributes
                    setattr(exc, _STATUS, status)
            raise
        answer_type = type(response)
        if answer_type not in self._answer_types and len(self._answer_types) < _MAX_ANSWER_TYPES:
            self._answer_types.add(answer_type)
        return response

    async def call(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """Run one Bot API call inside its span; telemetry failures never reach the bot."""
        try:
            bot = args[0] if args else kwargs["bot"]
            method = str((args[1] if len(args) > 1 else kwargs["method"]).__api_method__)
            call = self._calls.start(method, instance.api.api_url(token=bot.token, method=method))
        except Exception:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            self._calls.failed(call, failure_of(exc, self._network_error))
            raise
        else:
            if call.method == "getUpdates" and result:
                with contextlib.suppress(Exception):  # telemetry must never break the bot
                    self._calls.succeeded(call, bot.id, [update.update_id for update in result])
            else:
                self._calls.succeeded(call)
            return result
        finally:
            self._calls.close(call)
