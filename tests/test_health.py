"""/healthz and /readyz of a bot under opentelemetry-instrument, against the Bot API stand-in."""

from __future__ import annotations

import pytest

from crocotel.health import BotSignals, Health
from crocotel.testing import BotApiThread
from tests.health_support import get, loop_app, probe, wait_for
from tests.support import base_env

pytestmark = pytest.mark.integration


def test_healthz_fails_while_the_loop_is_blocked_and_recovers(api: BotApiThread) -> None:
    with loop_app(api, CROCOTEL_HEALTH_LOOP_BOUND="1") as app:
        _, body = wait_for(lambda: (r := probe(f"{app.base}/healthz"))[0] == 200 and r, "a live loop")
        assert body["checks"]["event_loop"] == {
            "ok": True, "state": "ok", "loops": 1, "bound_s": 1.0,
            "last_beat_age_s": body["checks"]["event_loop"]["last_beat_age_s"],
        }  # fmt: skip
        app.send("block")
        _status, body = wait_for(lambda: (r := probe(f"{app.base}/healthz"))[0] == 503 and r, "a 503")
        assert body["status"] == "fail" and body["checks"]["event_loop"]["state"] == "blocked"
        assert body["checks"]["event_loop"]["last_beat_age_s"] > 1.0
        ready, _ = probe(f"{app.base}/readyz")
        assert ready == 503  # a blocked bot is not ready either
        app.send("release")
        _, body = wait_for(lambda: (r := probe(f"{app.base}/healthz"))[0] == 200 and r, "200 again")
        assert body["status"] == "ok"
        # the block shows in the lag histogram: one beat ran more than a second late
        _, _, metrics = get(f"{app.base}/metrics")
        lines = metrics.decode().splitlines()
        late = [ln for ln in lines if ln.startswith('crocotel_event_loop_lag_seconds_bucket{le="1.0"')]
        count = [ln for ln in lines if ln.startswith("crocotel_event_loop_lag_seconds_count")]
        assert late and count and float(late[0].split()[-1]) < float(count[0].split()[-1])
        out, err = app.stop()
        assert out == "" and err == ""


def test_readyz_idle_poller_is_ready_then_flips_on_failures_and_stalls(api: BotApiThread) -> None:
    windows = {
        "CROCOTEL_READY_POLL_WINDOW": "2",
        "CROCOTEL_READY_API_FAILURE_WINDOW": "1.5",
        "POLL_TIMEOUT": "1",
    }
    with loop_app(api, **windows) as app:
        ready = f"{app.base}/readyz"
        wait_for(lambda: probe(ready)[0] == 200, "ready")
        # idle: long polls come back empty for longer than the window, and the bot stays ready
        polls = len([c for c in api.calls if c[0] == "getUpdates"])
        wait_for(lambda: len([c for c in api.calls if c[0] == "getUpdates"]) >= polls + 4, "4 empty polls")
        status, body = probe(ready)
        assert status == 200 and body["checks"]["updates"]["state"] == "polling", body
        assert body["checks"]["started"] == {"ok": True, "state": "ok"}

        # the Bot API fails every call: 503 with bot_api failing and polls stalled
        api._call(lambda: api.standin.server_error_next("getUpdates", 502, times=10_000))
        status, body = wait_for(lambda: (r := probe(ready))[0] == 503 and r, "503 on failures")
        wait_for(lambda: probe(ready)[1]["checks"]["bot_api"]["state"] == "failing", "bot_api failing")
        status, body = probe(ready)
        assert body["checks"]["bot_api"]["failed_calls"] >= 2
        assert probe(f"{app.base}/healthz")[0] == 200  # alive all along: a restart would not help
        api._call(api.standin.faults.clear)
        status, body = wait_for(lambda: (r := probe(ready))[0] == 200 and r, "ready after recovery")
        assert body["checks"]["bot_api"]["state"] == "ok"

        # getUpdates stalls (an answer held longer than the window): 503, then ready again
        api._call(lambda: api.standin.delay_next("getUpdates", 4.0))
        status, body = wait_for(lambda: (r := probe(ready))[0] == 503 and r, "503 on a stalled poll")
        assert body["checks"]["updates"]["state"] == "stalled" and body["checks"]["bot_api"]["ok"]
        wait_for(lambda: probe(ready)[0] == 200, "ready after the stall")
        out, err = app.stop()
        assert out == "" and err == ""


def test_readiness_rules() -> None:
    """The pure part: which answers count as failing, and webhook bots."""
    now = [100.0]
    signals = BotSignals(clock=lambda: now[0])
    health = Health(5.0, 10.0, 3.0, signals=signals, clock=lambda: now[0])
    assert [c.state for c in health.readiness()[1:]] == ["not_started", "waiting", "ok"]
    signals.api_call("setWebhook", "ok", None)
    assert [c.state for c in health.readiness()[1:]] == ["ok", "webhook", "ok"]
    for code in (400, 403, 429):  # answers about one request: the API works
        signals.api_call("sendMessage", "error", code)
        now[0] += 5
    assert health.bot_api().ok
    signals.api_call("sendMessage", "network_error", None)
    now[0] += 2
    signals.api_call("sendMessage", "error", 502)
    assert health.bot_api().state == "errors"
    now[0] += 1.5
    assert health.bot_api().state == "failing" and not health.bot_api().ok
    signals.api_call("sendMessage", "error", 403)  # an answer: the API is back
    assert health.bot_api().ok


def test_doctor_shows_the_running_bots_checks(api: BotApiThread) -> None:
    from tests.test_cli import crocotel

    with loop_app(api) as app:
        wait_for(lambda: probe(f"{app.base}/readyz")[0] == 200, "ready")
        port = app.base.rsplit(":", 1)[1]
        env = base_env(
            OTEL_EXPORTER_PROMETHEUS_PORT=port, OTEL_TRACES_EXPORTER="none", OTEL_LOGS_EXPORTER="none"
        )
        done = crocotel("doctor", env=env)
    assert done.returncode == 0, done.stdout
    assert f"[ok  ] a crocotel bot is serving on 127.0.0.1:{port}" in done.stdout
    assert "[ok  ] /healthz 200: event_loop ok (loops=1" in done.stdout
    assert "[ok  ] /readyz 200: updates polling (last_poll_age_s=" in done.stdout
    assert "[ok  ] /readyz 200: bot_api ok" in done.stdout
