"""crocotel's one HTTP server: ``/metrics``, ``/healthz`` and ``/readyz``.

It runs its own asyncio loop in a daemon thread (never the bot's loop), and
binds before the bot starts so that a port clash is reported once, clearly,
while traces and logs keep working. It is built to survive what a port scanner
or a broken scraper does, since its output is the bot's stderr:

- one thread for every connection there is, plus two workers that collect
  metrics; a connection that sends nothing costs a socket, not a thread;
- at most ``max_connections`` open connections: past that the oldest idle one
  is closed, so hundreds of half-open connections never lock out Prometheus;
- a read timeout for the request head, a size limit on it, and a write timeout;
- disconnects, timeouts, malformed and oversized requests are answered (when
  there is still someone to answer) and counted, never printed.

The metrics route uses prometheus_client's encoders (text or OpenMetrics by
``Accept``), its ``name[]`` filtering and its gzip rule; HEAD is answered like GET
without the body, and an unknown path gets a 404 naming the paths there are.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import errno
import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client.exposition import choose_encoder, gzip_accepted

__all__ = ["ClientErrors", "PortInUseError", "Request", "TelemetryServer", "health_route", "metrics_route"]

MAX_CONNECTIONS = 64
READ_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 8192
_GZIP_MIN_BYTES = 1024
_GZIP_LEVEL = 6
_TEXT = "text/plain; charset=utf-8"
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Request:
    """What a route needs from a request."""

    path: str
    accept: str = ""
    accept_encoding: str = ""
    params: dict[str, list[str]] = field(default_factory=dict)


Response = tuple[int, str, bytes]
Route = Callable[[Request], Response]
"""A route takes the request and returns status, content type and body."""


class PortInUseError(OSError):
    """The configured port is taken; the message names the variable to change."""


class ClientErrors:
    """Counts of what clients did wrong, by reason, for ``crocotel.server.client_errors``."""

    REASONS = ("disconnect", "timeout", "malformed", "too_large", "over_capacity")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(self.REASONS, 0)

    def add(self, reason: str) -> None:
        """One more (only ever called from the server's loop thread)."""
        self.counts[reason] += 1


def metrics_route(registry: Any) -> Route:
    """Serve ``registry`` as text or OpenMetrics by ``Accept``, filtered by ``name[]`` when given."""

    def render(request: Request) -> Response:
        encode, content_type = choose_encoder(request.accept)
        names = request.params.get("name[]")
        return 200, content_type, encode(_Only(frozenset(names), registry) if names else registry)

    return render


class _Only:
    """The samples named in ``name[]``, as prometheus_client's restricted registry keeps them."""

    def __init__(self, names: frozenset[str], source: Any) -> None:
        self._names = names
        self._source = source

    def collect(self) -> Iterator[Any]:
        for family in self._source.collect():
            samples = [sample for sample in family.samples if sample.name in self._names]
            if samples:
                kept = copy.copy(family)
                kept.samples = samples
                yield kept


def health_route(checks: Callable[[], tuple[int, bytes]]) -> Route:
    """Serve a health report (status and JSON body)."""

    def render(_request: Request) -> Response:
        status, body = checks()
        return status, "application/json", body

    return render


class _Bad(Exception):
    """A request we answer with ``status`` and then close the connection."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status)
        self.status = status
        self.reason = reason


class _Connection:
    __slots__ = ("busy", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.busy = False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                exc.errno,
                f"crocotel: cannot serve /metrics on {host}:{port}: the port is already in use; "
                "set OTEL_EXPORTER_PROMETHEUS_PORT to a free port (0 picks one); "
                "metrics disabled, traces and logs keep working",
            ) from None
        raise


class TelemetryServer:
    """The ``/metrics``, ``/healthz`` and ``/readyz`` server, on its own loop in a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        routes: dict[str, Route],
        *,
        max_connections: int = MAX_CONNECTIONS,
        read_timeout: float = READ_TIMEOUT_S,
        inline: frozenset[str] = frozenset({"/healthz", "/readyz"}),
    ) -> None:
        self._sock = _bind(host, port)
        self.routes = routes
        self.errors = ClientErrors()
        self._max = max_connections
        self._timeout = read_timeout
        self._inline = inline  # cheap routes answered on the loop, never queued behind a scrape
        self._conns: collections.OrderedDict[int, _Connection] = collections.OrderedDict()
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="crocotel-metrics")
        self._loop = asyncio.SelectorEventLoop()  # our own: never the bot's, never the policy's
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crocotel-http", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    @property
    def url(self) -> str:
        """Base URL actually bound (useful with port 0)."""
        host, port = self._sock.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(lambda _loop, _context: None)  # nothing of ours reaches stderr
        server = loop.run_until_complete(
            asyncio.start_server(self._serve, sock=self._sock, limit=MAX_HEAD_BYTES)
        )
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.wait_for(server.wait_closed(), 1.0))
            for conn in list(self._conns.values()):
                conn.writer.transport.abort()
            loop.close()

    def close(self) -> None:
        """Stop serving and release the port; bounded."""
        if self._loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2.0)
        self._workers.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(OSError):
            self._sock.close()

    def _admit(self, conn: _Connection) -> bool:
        """Make room for ``conn``: close the oldest idle connection when at the cap."""
        if len(self._conns) < self._max:
            return True
        for key, old in self._conns.items():
            if not old.busy:
                del self._conns[key]
                old.writer.transport.abort()
                self.errors.add("over_capacity")
                return True
        self.errors.add("over_capacity")
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        if not self._admit(conn):
            writer.transport.abort()
            return
        key = id(conn)
        self._conns[key] = conn
        served = 0
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._timeout)
                except asyncio.TimeoutError:
                    if served == 0 or reader._buffer:  # type: ignore[attr-defined]
                        self.errors.add("timeout")  # connected and never finished a request
                        await self._answer_bad(writer, 408)
                    return  # an idle keep-alive connection just ends
                except asyncio.IncompleteReadError as exc:
                    if exc.partial or served == 0:
                        self.errors.add("disconnect")
                    return
                except asyncio.LimitOverrunError:
                    self.errors.add("too_large")
                    await self._answer_bad(writer, 431)
                    return
                conn.busy = True
                keep_alive = await self._respond(writer, head)
                conn.busy = False
                served += 1
                if not keep_alive:
                    return
        except (ConnectionError, OSError):
            self.errors.add("disconnect")
        except asyncio.CancelledError:
            raise
        except Exception:
            self.errors.add("malformed")
        finally:
            self._conns.pop(key, None)
            await self._close(writer)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        """Close after the answer is flushed; a client that does not read loses the connection."""
        try:
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), self._timeout)
        except asyncio.CancelledError:
            writer.transport.abort()
            raise
        except Exception:
            writer.transport.abort()

    async def _answer_bad(self, writer: asyncio.StreamWriter, status: int) -> None:
        with contextlib.suppress(Exception):
            writer.write(_head(status, _TEXT, 0, False, ()))
            await asyncio.wait_for(writer.drain(), 1.0)

    async def _respond(self, writer: asyncio.StreamWriter, head: bytes) -> bool:
        """Answer one request; returns whether the connection stays open."""
        try:
            method, request, keep_alive = _parse(head)
        except _Bad as bad:
            self.errors.add(bad.reason)
            body = f"{_REASONS[bad.status].lower()}\n".encode()
            writer.write(_head(bad.status, _TEXT, len(body), False, ()) + body)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), 1.0)
            return False
        status, content_type, body, extra = await self._route(method, request)
        if method == "HEAD":
            writer.write(_head(status, content_type, len(body), keep_alive, extra))
        else:
            writer.write(_head(status, content_type, len(body), keep_alive, extra) + body)
        try:
            await asyncio.wait_for(writer.drain(), self._timeout)
        except asyncio.TimeoutError:
            self.errors.add("timeout")  # a client that does not read its answer
            return False
        return keep_alive

    async def _route(self, method: str, request: Request) -> tuple[int, str, bytes, tuple[str, ...]]:
        if method not in ("GET", "HEAD"):
            return 405, _TEXT, b"method not allowed: use GET or HEAD\n", ("Allow: GET, HEAD",)
        route = self.routes.get(request.path)
        if route is None:
            known = ", ".join(sorted(self.routes))
            return 404, _TEXT, f"not found: this server answers {known}\n".encode(), ()
        try:
            if request.path in self._inline:
                status, content_type, body = route(request)
            else:
                loop = asyncio.get_running_loop()
                status, content_type, body = await loop.run_in_executor(self._workers, route, request)
        except Exception:
            return 500, _TEXT, b"collection failed\n", ()
        if len(body) >= _GZIP_MIN_BYTES and gzip_accepted(request.accept_encoding):
            return status, content_type, gzip.compress(body, _GZIP_LEVEL), ("Content-Encoding: gzip",)
        return status, content_type, body, ()


def _parse(head: bytes) -> tuple[str, Request, bool]:
    """Method, request and keep-alive from a request head; :class:`_Bad` when it is not HTTP/1.x."""
    try:
        text = head.decode("latin-1")
        line, _, rest = text.partition("\r\n")
        method, target, version = line.split(" ")
    except ValueError:
        raise _Bad(400, "malformed") from None
    if not version.startswith("HTTP/1.") or not method.isalpha() or not target.startswith("/"):
        raise _Bad(400, "malformed")
    headers: dict[str, str] = {}
    for header in rest.split("\r\n"):
        if not header:
            continue
        name, sep, value = header.partition(":")
        if not sep:
            raise _Bad(400, "malformed")
        headers[name.strip().lower()] = value.strip()
    if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
        raise _Bad(413, "too_large")  # no route takes a body
    parts = urlsplit(target)
    request = Request(
        path=parts.path,
        accept=headers.get("accept", ""),
        accept_encoding=headers.get("accept-encoding", ""),
        params=parse_qs(parts.query),
    )
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version != "HTTP/1.0" or connection == "keep-alive")
    return method, request, keep_alive


def _head(status: int, content_type: str, length: int, keep_alive: bool, extra: tuple[str, ...]) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
        "Connection: keep-alive" if keep_alive else "Connection: close",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
