"""The bot's metrics server: formats, gzip, name[], HEAD, 404, and hostile clients."""

from __future__ import annotations

import gzip
import shutil
import socket
import subprocess

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from crocotel.testing import BotApiThread
from tests.health_support import App, get, loop_app, probe, wait_for

pytestmark = pytest.mark.integration

OPENMETRICS = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"


def threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


def raw(port: int, data: bytes, read: bool = True) -> bytes:
    """Send ``data`` on a fresh connection; what came back (until close or 2 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        if not read:
            return b""
        sock.settimeout(2)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def test_formats_gzip_filter_head_and_unknown_paths(api: BotApiThread) -> None:
    with loop_app(api) as app:
        status, headers, text = get(f"{app.base}/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        families = {f.name for f in parse_text(text.decode())}
        assert {"process_memory_usage_bytes", "crocotel_server_client_errors", "target_info"} <= families
        promtool = shutil.which("promtool")
        if promtool:
            check = subprocess.run(
                [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
            )
            assert b"error" not in check.stdout.lower() + check.stderr.lower(), check

        status, headers, body = get(f"{app.base}/metrics", Accept=OPENMETRICS, **{"Accept-Encoding": "gzip"})
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        assert headers["Content-Type"].startswith("application/openmetrics-text")
        openmetrics = gzip.decompress(body).decode()
        assert openmetrics.endswith("# EOF\n")
        assert {f.name for f in parse_openmetrics(openmetrics)} >= {"process_uptime_seconds", "target"}

        _, _, only = get(f"{app.base}/metrics?name[]=process_uptime_seconds&name[]=process_thread_count")
        assert {s.name for f in parse_text(only.decode()) for s in f.samples} == {
            "process_uptime_seconds",
            "process_thread_count",
        }

        head = raw(app_port(app), b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status_line, _, rest = head.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 200 OK" and rest.endswith(b"\r\n\r\n")  # headers, no body
        assert b"Content-Length: " in rest and b"Content-Type: application/json" in rest

        status, _, body = get(f"{app.base}/favicon.ico")
        assert status == 404 and b"/metrics" in body and b"/healthz" in body and b"/readyz" in body
        post = raw(app_port(app), b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert post.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in post
        out, err = app.stop()
    assert out == "" and err == ""


def app_port(app: App) -> int:
    return int(app.base.rsplit(":", 1)[1])


def test_hostile_clients_leave_the_endpoints_answering_and_stderr_silent(api: BotApiThread) -> None:
    with loop_app(api) as app:
        port = app_port(app)
        assert get(f"{app.base}/metrics")[0] == 200  # the collection workers exist from here on
        # ready first (its first long poll answered), so what follows can only keep it so
        wait_for(lambda: probe(f"{app.base}/readyz")[0] == 200, "ready before the hostile clients")
        before = threads(app.proc.pid)
        half_open = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(300)]
        try:
            for _ in range(50):  # a request cut off in its head
                raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n", read=False)
            for _ in range(50):  # a full request, gone before the answer
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            for _ in range(20):
                answer = raw(port, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
                assert answer == b"" or answer.startswith(b"HTTP/1.1 431")
            assert raw(port, b"HELLO THERE\r\n\r\n").startswith(b"HTTP/1.1 400")
            body = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
            assert body.startswith(b"HTTP/1.1 413")
            assert get(f"{app.base}/metrics")[0] == 200
            assert probe(f"{app.base}/healthz")[0] == 200
            ready = probe(f"{app.base}/readyz")
            assert ready[0] == 200, ready
            assert threads(app.proc.pid) <= before + 1
        finally:
            for sock in half_open:
                sock.close()
        _, _, text = get(f"{app.base}/metrics")
        errors = {
            s.labels["reason"]: s.value
            for f in parse_text(text.decode())
            if f.name == "crocotel_server_client_errors"
            for s in f.samples
        }
        assert errors["over_capacity"] >= 200 and errors["too_large"] >= 2 and errors["malformed"] >= 1
        assert errors["disconnect"] >= 50
        out, err = app.stop()
    assert out == "" and err == ""
