"""crocotel's one HTTP server: ``/metrics`` today, the health endpoints beside it.

It runs in a daemon thread with its own sockets, so a slow scrape never touches
the bot's event loop, and it binds before the bot starts so that a port clash is
reported once, clearly, while traces and logs keep working.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import choose_encoder

Route = Callable[[str], tuple[int, str, bytes]]
"""A route takes the request's Accept header and returns status, content type and body."""


class PortInUseError(OSError):
    """The configured port is taken; the message names the variable to change."""


def metrics_route(registry: Any) -> Route:
    """Serve ``registry`` in the text format, or OpenMetrics when the scraper asks for it."""

    def render(accept: str) -> tuple[int, str, bytes]:
        encode, content_type = choose_encoder(accept)
        return 200, content_type, encode(registry)

    return render


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        route = self.server.routes.get(path)
        if route is None:
            status, content_type, body = 404, "text/plain; charset=utf-8", b"not found\n"
        else:
            try:
                status, content_type, body = route(self.headers.get("Accept", ""))
            except Exception:
                status, content_type, body = 500, "text/plain; charset=utf-8", b"collection failed\n"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: a scrape every 15 s must not write to the bot's stderr."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]


class TelemetryServer:
    """The ``/metrics`` (and later ``/healthz``, ``/readyz``) server in a daemon thread."""

    def __init__(self, host: str, port: int, routes: dict[str, Route]) -> None:
        try:
            self._server = _Server((host, port), _Handler, bind_and_activate=True)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    exc.errno,
                    f"crocotel: cannot serve /metrics on {host}:{port}: the port is already in use; "
                    "set OTEL_EXPORTER_PROMETHEUS_PORT to a free port (0 picks one); "
                    "metrics disabled, traces and logs keep working",
                ) from None
            raise
        self._server.routes = routes
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="crocotel-http",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL actually bound (useful with port 0)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving and release the port; bounded by the poll interval."""
        self._server.shutdown()
        self._server.server_close()
