"""An in-test OTLP/HTTP receiver: what a Collector would get, kept for assertions.

It listens on 127.0.0.1 in a daemon thread, accepts protobuf exports on
``/v1/traces``, ``/v1/logs`` and ``/v1/metrics`` (plain, gzip or deflate) and
keeps them as flat records (see ``crocotel.testing._otlp_decode``). For outage
tests it can be told to answer every export with an error status until it
recovers.
"""

from __future__ import annotations

import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from google.protobuf.message import DecodeError  # no stubs shipped
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from crocotel.testing._otlp_decode import (
    ReceivedLog,
    ReceivedMetric,
    ReceivedSpan,
    logs_of,
    metrics_of,
    spans_of,
)

__all__ = [
    "OtlpReceiver",
    "ReceivedLog",
    "ReceivedMetric",
    "ReceivedSpan",
    "logs_of",
    "metrics_of",
    "spans_of",
]

_MAX_BODY_BYTES = 64 * 1024 * 1024  # compressed or not; far above any SDK batch
_POLL_INTERVAL = 0.05  # wait_for re-checks at least this often
_MAX_WAKEUPS = 100_000
_STOP_TIMEOUT = 5.0
_PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    retry_after: int | None = None


def _decompress(body: bytes, encoding: str) -> bytes | None:
    """Undo Content-Encoding (gzip, deflate or none); None if unsupported or corrupt."""
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return None
    # wbits: 16+MAX for a gzip header, MAX for a zlib header.
    wbits = zlib.MAX_WBITS | 16 if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, _MAX_BODY_BYTES)
    except zlib.error:
        return None
    if inflater.unconsumed_tail or not inflater.eof:
        return None  # truncated, or larger than we accept
    return data


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding a reference to the receiver that keeps the data."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], receiver: OtlpReceiver) -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Say nothing when the client went away before the answer (an exporter that timed out on
        a slow receiver, a bot that exited mid-export): its choice, not a receiver error. Anything
        else is printed as ``socketserver`` prints it."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Reads one export request and writes the receiver's reply."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the exporters expect
    timeout = 10  # idle keep-alive connections end instead of holding a thread

    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        reply = server.receiver._receive(self)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.retry_after is not None:
            self.send_header("Retry-After", str(reply.retry_after))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: test output should show the test, not access lines."""


# path -> the serialized (empty) success response for that signal
_SUCCESS: dict[str, bytes] = {
    "/v1/traces": ExportTraceServiceResponse().SerializeToString(),
    "/v1/logs": ExportLogsServiceResponse().SerializeToString(),
    "/v1/metrics": ExportMetricsServiceResponse().SerializeToString(),
}


class OtlpReceiver:
    """Receives OTLP/HTTP protobuf exports in a background thread; all methods are thread-safe."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, on_export: Callable[[str, bytes], None] | None = None
    ) -> None:
        """``on_export(path, body)`` is called (on a server thread) for every accepted export."""
        self.host = host
        self._on_export = on_export
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._cond = threading.Condition()
        self._generation = 0  # bumped on every request, under _cond
        self._spans: list[ReceivedSpan] = []
        self._logs: list[ReceivedLog] = []
        self._metrics: list[ReceivedMetric] = []
        self._raw: list[bytes] = []
        self._requests: list[tuple[str, int]] = []
        self._failure: _Reply | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Listen and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the receiver is already started")
        server = _Server((self.host, self._requested_port), self)
        self._port = int(server.server_address[1])
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name="crocotel-otlp-receiver",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving and close the socket. Safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(_STOP_TIMEOUT)

    def __enter__(self) -> OtlpReceiver:
        self.start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port actually listened on."""
        if self._port is None:
            raise RuntimeError("the receiver is not started")
        return self._port

    @property
    def endpoint(self) -> str:
        """Base URL such as ``http://127.0.0.1:PORT``, for OTEL_EXPORTER_OTLP_ENDPOINT."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- what was received -----------------------------------------------------

    def spans(self) -> list[ReceivedSpan]:
        """Every accepted span, in arrival order."""
        with self._cond:
            return list(self._spans)

    def logs(self) -> list[ReceivedLog]:
        """Every accepted log record, in arrival order."""
        with self._cond:
            return list(self._logs)

    def metrics(self) -> list[ReceivedMetric]:
        """Every metric of every accepted export, in arrival order (repeats across exports)."""
        with self._cond:
            return list(self._metrics)

    def raw_bodies(self) -> list[bytes]:
        """Every decompressed request body, including ones refused by ``fail_with``: for leak searches."""
        with self._cond:
            return list(self._raw)

    def requests(self) -> list[tuple[str, int]]:
        """(path, status answered) for every request, in order."""
        with self._cond:
            return list(self._requests)

    def clear(self) -> None:
        """Forget everything received (the failure mode is kept)."""
        with self._cond:
            self._spans.clear()
            self._logs.clear()
            self._metrics.clear()
            self._raw.clear()
            self._requests.clear()

    def wait_for(self, predicate: Callable[[OtlpReceiver], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate(self)`` holds, at most ``timeout`` seconds; returns whether it did.

        The predicate runs without locks held, after every request and at
        least every 50 ms.
        """
        deadline = time.monotonic() + timeout
        for _ in range(_MAX_WAKEUPS):
            with self._cond:
                seen = self._generation
            if predicate(self):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wait_change(seen, min(remaining, _POLL_INTERVAL))
        return predicate(self)

    def _wait_change(self, seen: int, timeout: float) -> None:
        """Block until a request arrives after generation ``seen``, or ``timeout`` passes."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != seen, timeout)

    # -- outage simulation -----------------------------------------------------

    def fail_with(self, status: int, retry_after: int | None = None) -> None:
        """Answer every export with ``status`` (and Retry-After, if given) until ``recover()``."""
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        body = f"OtlpReceiver answers {status} on purpose (fail_with)".encode()
        with self._cond:
            self._failure = _Reply(status, body, retry_after=retry_after)

    def recover(self) -> None:
        """Accept exports again."""
        with self._cond:
            self._failure = None

    # -- request handling (called on server threads) -----------------------------

    def _receive(self, handler: BaseHTTPRequestHandler) -> _Reply:
        path = urlsplit(handler.path).path
        reply = self._receive_body(handler, path)
        with self._cond:
            self._requests.append((path, reply.status))
            self._generation += 1
            self._cond.notify_all()
        return reply

    def _receive_body(self, handler: BaseHTTPRequestHandler, path: str) -> _Reply:
        length_header = handler.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            handler.close_connection = True  # the body's end is unknown
            return _Reply(411, b"Content-Length required")
        length = int(length_header)
        if length > _MAX_BODY_BYTES:
            handler.close_connection = True
            return _Reply(413, b"body too large")
        body = handler.rfile.read(length)
        success = _SUCCESS.get(path)
        if success is None:
            return _Reply(404, b"unknown path; use /v1/traces, /v1/logs or /v1/metrics")
        content_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != _PROTOBUF:
            return _Reply(415, b"only application/x-protobuf is supported")
        encoding = (handler.headers.get("Content-Encoding") or "").strip().lower()
        data = _decompress(body, encoding)
        if data is None:
            return _Reply(400, b"unsupported or corrupt Content-Encoding")
        with self._cond:
            self._raw.append(data)
            failure = self._failure
        if failure is not None:
            return failure
        try:
            self._store(path, data)
        except DecodeError:
            return _Reply(400, b"body is not a valid OTLP protobuf export request")
        if self._on_export is not None:
            self._on_export(path, data)
        return _Reply(200, success, content_type=_PROTOBUF)

    def _store(self, path: str, data: bytes) -> None:
        """Decode one export request for ``path`` and keep its records."""
        if path == "/v1/traces":
            spans = spans_of(ExportTraceServiceRequest.FromString(data))
            with self._cond:
                self._spans.extend(spans)
        elif path == "/v1/logs":
            logs = logs_of(ExportLogsServiceRequest.FromString(data))
            with self._cond:
                self._logs.extend(logs)
        else:
            metrics = metrics_of(ExportMetricsServiceRequest.FromString(data))
            with self._cond:
                self._metrics.extend(metrics)
