"""Server spans for aiohttp.web apps (webhook bots) with aiohttp unchanged; the instrumentation policy."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web, web_app
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from crocotel import distro
from crocotel.instrumentation.aiohttp_web import AiohttpWebInstrumentor
from crocotel.instrumentation.wraps import active_wraps
from crocotel.testing import BotApiThread, OtlpReceiver
from crocotel.testing.botapi import DEFAULT_TOKEN
from tests.support import BIN, REPO, base_env, free_port
from tests.telegram_support import KIND_SERVER, Trees, bot_env, run_bot
from tests.wrap_support import ClassDicts, assert_patch_reaches

WEBHOOK_APP = "tests.apps.webhook_app"
TOKEN_SECRET = DEFAULT_TOKEN.partition(":")[2]  # the secret half of the stand-in's token


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AiohttpWebInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()


async def ok(request: web.Request) -> web.Response:
    return web.Response(text=request.match_info.get("id", "ok"))


async def boom(request: web.Request) -> web.Response:
    raise LookupError("handler bug")


async def gone(request: web.Request) -> web.Response:
    raise web.HTTPGone()


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/webhook", ok)
    app.router.add_get("/users/{id}", ok)
    app.router.add_get("/boom", boom)
    app.router.add_get("/gone", gone)
    return app


async def serve(*requests: tuple[str, str, dict[str, str]]) -> list[int]:
    """Serve ``make_app()`` and make each (method, path, headers) request; the statuses."""
    server = TestServer(make_app(), host="127.0.0.1")
    await server.start_server()
    statuses = []
    try:
        async with aiohttp.ClientSession() as session:
            for method, path, headers in requests:
                async with session.request(method, server.make_url(path), headers=headers) as response:
                    await response.read()
                    statuses.append(response.status)
    finally:
        await server.close()
    return statuses


def by_path(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {str(s.attributes["url.path"]): s for s in spans if s.attributes}


async def test_one_server_span_per_request_with_route_status_and_parent(
    exporter: InMemorySpanExporter,
) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    statuses = await serve(
        ("POST", "/webhook", {"traceparent": parent}),
        ("GET", "/users/42", {}),
        ("GET", "/nowhere", {}),
        ("GET", "/boom", {}),
        ("GET", "/gone", {}),
    )
    assert statuses == [200, 200, 404, 500, 410]
    spans = exporter.get_finished_spans()
    assert len(spans) == 5 and all(s.kind is SpanKind.SERVER for s in spans)
    found = by_path(spans)
    webhook = found["/webhook"]
    assert webhook.name == "POST /webhook"
    assert webhook.attributes is not None and webhook.attributes["http.route"] == "/webhook"
    assert webhook.attributes["http.response.status_code"] == 200
    assert webhook.parent is not None and f"{webhook.parent.span_id:016x}" == "b7ad6b7169203331"
    assert f"{webhook.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert found["/users/42"].name == "GET /users/{id}"  # the route, never the raw path
    assert found["/nowhere"].name == "GET" and found["/nowhere"].status.status_code is StatusCode.UNSET
    failed = found["/boom"]
    assert failed.status.status_code is StatusCode.ERROR and failed.attributes is not None
    assert failed.attributes["error.type"] == "LookupError" and failed.events[0].name == "exception"
    assert found["/gone"].attributes is not None
    assert found["/gone"].attributes["http.response.status_code"] == 410
    assert found["/gone"].status.status_code is StatusCode.UNSET  # a 4xx is the client's problem


async def test_a_token_in_the_path_stays_out_of_the_span(exporter: InMemorySpanExporter) -> None:
    token = "123456:" + TOKEN_SECRET
    await serve(("GET", f"/bot{token}/getMe", {}))
    (span,) = exporter.get_finished_spans()
    assert TOKEN_SECRET not in repr(span.attributes) and TOKEN_SECRET not in span.name


def test_the_wrap_is_exact_and_reversible() -> None:
    before = ClassDicts.of("aiohttp")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AiohttpWebInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        assert (
            web.Application is web_app.Application and "aiohttp.web_app.Application._handle" in active_wraps()
        )
        assert_patch_reaches(web_app.Application, "_handle", lambda: serve(("POST", "/webhook", {})))
        assert len(exporter.get_finished_spans()) == 1  # only the call made while not patched
    finally:
        instrumentor.uninstrument()
    before.assert_unchanged()
    assert not any("_handle" in wrap for wrap in active_wraps())


def facts(lines: str) -> dict[str, Any]:
    (line,) = [line for line in lines.splitlines() if line.startswith("FACTS ")]
    found: dict[str, Any] = json.loads(line.removeprefix("FACTS "))
    return found


@pytest.mark.integration
def test_webhook_bot_gets_a_server_span_per_delivery_from_an_unmodified_application(
    receiver: OtlpReceiver,
) -> None:
    plain = subprocess.run(
        [sys.executable, "-m", WEBHOOK_APP],
        cwd=REPO,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.returncode == 0, plain.stderr
    expected = facts(plain.stdout)
    with BotApiThread() as api:
        updates = [api.push_message("/start"), api.push_message("hello"), api.push_message("again")]
        port = free_port()
        env = bot_env(
            api,
            receiver,
            len(updates),
            WEBHOOK_URL=f"http://127.0.0.1:{port}/webhook",
            WEBHOOK_PORT=str(port),
        )
        code, out, err = run_bot(WEBHOOK_APP, env)
        assert code == 0, err[-3000:]
        assert len(api.sent) == 3
    seen = facts(out)
    assert seen.pop("handle_wrapped") and not expected.pop("handle_wrapped")  # the only difference...
    assert seen == expected  # ...: same class, attributes, middlewares, mimetypes, asyncio
    assert seen["same_class"] and seen["app_class"] == "aiohttp.web_app.Application"
    assert not seen["mimetypes_inited_at_start"] and not seen["create_task_wrapped"]
    assert receiver.wait_for(lambda r: len([s for s in r.spans() if s.kind == KIND_SERVER]) >= 3, 10)
    trees = Trees(receiver.spans())
    servers = [s for s in trees.spans if s.kind == KIND_SERVER]
    assert len(servers) == 3 and {s.name for s in servers} == {"POST /webhook"}
    assert sorted(trees.by_id[trees.update(u).parent_span_id].span_id for u in updates) == sorted(
        s.span_id for s in servers
    )  # one delivery, one server span, the parent of its update


def test_held_back_instrumentations_are_not_loaded_unless_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []

    class EntryPoint(SimpleNamespace):
        def load(self) -> Any:
            return lambda: SimpleNamespace(instrument=lambda **_: loaded.append(self.name))

    def load_all(enabled: str) -> list[str]:
        loaded.clear()
        monkeypatch.setenv("CROCOTEL_ENABLE_INSTRUMENTATIONS", enabled)
        monkeypatch.setattr(
            distro,
            "installed_instrumentations",
            lambda: frozenset({"asyncio", "aiohttp-server", "aiohttp-web"}),
        )
        d = distro.CrocotelDistro()
        for name in ("asyncio", "aiohttp-server", "aiohttp-web", "aiogram"):
            d.load_instrumentor(EntryPoint(name=name))
        return sorted(loaded)

    assert load_all("") == ["aiogram", "aiohttp-web"]
    assert load_all("asyncio") == ["aiogram", "aiohttp-web", "asyncio"]
    assert load_all("aiohttp-server") == ["aiogram", "aiohttp-server"]  # ours steps aside: no double spans


def test_doctor_says_which_instrumentations_are_held_back_and_why() -> None:
    crocotel = str(BIN / "crocotel")
    env = base_env(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="aiohttp-client")
    out = subprocess.run([crocotel, "doctor"], env=env, capture_output=True, text=True, timeout=60).stdout
    lines = {
        line.split("instrumentation ", 1)[1].split(":", 1)[0]: line
        for line in out.splitlines()
        if "] instrumentation " in line
    }
    assert lines["aiogram"].endswith("aiogram: active") and lines["aiohttp-web"].endswith("active")
    assert "disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS" in lines["aiohttp-client"]
    for name in ("asyncio", "aiohttp-server"):
        assert (
            "disabled by crocotel:" in lines[name]
            and f"CROCOTEL_ENABLE_INSTRUMENTATIONS={name}" in lines[name]
        )
    env["CROCOTEL_ENABLE_INSTRUMENTATIONS"] = "aiohttp-server"
    out = subprocess.run([crocotel, "doctor"], env=env, capture_output=True, text=True, timeout=60).stdout
    assert "instrumentation aiohttp-server: active" in out
    assert "instrumentation aiohttp-web: disabled by crocotel: aiohttp-server is enabled" in out
