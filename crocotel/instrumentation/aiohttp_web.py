"""A SERVER span per request for aiohttp.web apps (webhook bots), with aiohttp left as it was.

Loaded by ``opentelemetry-instrument`` through the ``opentelemetry_instrumentor``
entry point ``aiohttp-web``; or by hand::

    from crocotel.instrumentation.aiohttp_web import AiohttpWebInstrumentor
    AiohttpWebInstrumentor().instrument()

It wraps ``Application._handle``, the method aiohttp's server calls once per
request on the top-level application, where it is defined (see
:mod:`crocotel.instrumentation.wraps`). ``aiohttp.web.Application`` stays the
class it was, the app's middlewares are untouched, and ``uninstrument()``
restores the class exactly. The upstream opentelemetry-instrumentation-aiohttp-server
instead replaces ``aiohttp.web.Application`` with a subclass, which breaks code
that holds the original class; crocotel holds it back (see :mod:`crocotel.instrumentation_policy`).

Like aiogram, ``aiohttp.web`` is never imported by us: importing it fills the
global ``mimetypes`` table from the system's ``/etc/mime.types``, a side effect
the bot did not ask for. The patching waits for the app's own import.

The span is named ``{method} {route}`` (``POST /webhook``) and carries the
stable HTTP server attributes; the Telegram update span of a webhook delivery
is its child. The path goes through the same token filter as Bot API URLs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Collection
from contextvars import Token
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.trace import SpanKind, Status, StatusCode
from wrapt import register_post_import_hook

from crocotel._version import __version__
from crocotel.instrumentation.wraps import Wraps
from crocotel.redaction.urls import url_filter

__all__ = ["AiohttpWebInstrumentor"]

_log = logging.getLogger("crocotel.instrumentation")

_MODULE = "aiohttp.web_app"
_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})


class ServerTracer:
    """Wraps ``Application._handle``: one SERVER span around each request."""

    def __init__(self, tracer: trace.Tracer, http_exception: type[BaseException]) -> None:
        self._tracer = tracer
        self._http_exception = http_exception

    def _start(self, request: Any) -> tuple[trace.Span, Token[context_api.Context], str]:
        method = request.method if request.method in _METHODS else "_OTHER"
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.scheme": request.scheme,
            "url.path": url_filter(request.path),
            "network.protocol.version": f"{request.version.major}.{request.version.minor}",
        }
        host = request.host
        if host:
            address, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
            attributes["server.address"] = address
            if port.isdigit():
                attributes["server.port"] = int(port)
        peer = request.remote
        if peer:
            attributes["client.address"] = peer
        parent = propagate.extract(request.headers)
        span = self._tracer.start_span(method, parent, SpanKind.SERVER, attributes)
        token = context_api.attach(trace.set_span_in_context(span, parent))
        return span, token, method

    async def handle(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """Serve the request inside its span; telemetry failures never reach the app."""
        try:
            span, token, method = self._start(args[0] if args else kwargs["request"])
        except Exception:  # telemetry must never break the request
            return await wrapped(*args, **kwargs)
        status: int | None = None
        error: BaseException | None = None
        try:
            response = await wrapped(*args, **kwargs)
            status = getattr(response, "status", None)
            return response
        except BaseException as exc:
            status = getattr(exc, "status", None) if isinstance(exc, self._http_exception) else 500
            error = exc if status is None or status >= 500 else None
            raise
        finally:
            self._end(span, token, method, args[0] if args else kwargs.get("request"), status, error)

    def _end(
        self,
        span: trace.Span,
        token: Token[context_api.Context],
        method: str,
        request: Any,
        status: int | None,
        error: BaseException | None,
    ) -> None:
        try:
            if span.is_recording():
                route = _route(request)
                if route is not None:
                    route = url_filter(route)
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
                if status is not None:
                    span.set_attribute("http.response.status_code", status)
                if error is not None:
                    span.record_exception(error)
                    span.set_attribute("error.type", type(error).__qualname__)
                    span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
                elif status is not None and status >= 500:
                    span.set_attribute("error.type", str(status))
                    span.set_status(Status(StatusCode.ERROR))
            span.end()
        except Exception:  # telemetry must never break the request
            pass
        finally:
            context_api.detach(token)


def _route(request: Any) -> str | None:
    """The matched route's template (``/webhook``, ``/users/{id}``), None when nothing matched."""
    match_info = getattr(request, "_match_info", None)
    resource = getattr(getattr(match_info, "route", None), "resource", None)
    canonical = getattr(resource, "canonical", None)
    return canonical if isinstance(canonical, str) else None


class AiohttpWebInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Server spans for ``aiohttp.web`` applications. Option of ``instrument()``: ``tracer_provider``."""

    _waiting = False
    _wraps: Wraps | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """aiohttp 3.x; opentelemetry-instrument skips us when it is missing."""
        return ("aiohttp >= 3.9, < 4",)

    def _instrument(self, **kwargs: Any) -> None:
        """Patch aiohttp.web now if the app has imported it, else as soon as it does."""
        if _MODULE in sys.modules:
            self._patch(**kwargs)
            return
        self._waiting = True

        def on_import(_module: object) -> None:
            if not self._waiting:
                return  # uninstrumented before the app imported aiohttp.web
            self._waiting = False
            try:
                self._patch(**kwargs)
            except Exception:  # the app's import must go on whatever happens here
                _log.warning(
                    "crocotel: aiohttp.web instrumentation failed; the app runs without it", exc_info=True
                )

        register_post_import_hook(on_import, _MODULE)

    def _patch(self, **kwargs: Any) -> None:
        from aiohttp.web_app import Application
        from aiohttp.web_exceptions import HTTPException

        tracer = trace.get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        self._wraps = Wraps()
        self._wraps.wrap(Application, "_handle", ServerTracer(tracer, HTTPException).handle)

    def _uninstrument(self, **kwargs: Any) -> None:
        self._waiting = False
        if self._wraps is not None:
            self._wraps.undo()
            self._wraps = None
