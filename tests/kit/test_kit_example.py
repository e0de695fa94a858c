"""A bot author's telemetry test, written only with crocotel's test kit (run by tests/test_testing_kit.py).

The "bot" here is a few lines of stdlib code talking to the stand-in; what matters is that the
fixtures come from the installed plugin and the leak check works on real outputs.
"""

from __future__ import annotations

import json
import logging
import urllib.request

from crocotel.testing import BotApiThread, OtlpReceiver, assert_no_leaks


def test_a_bot_call_and_its_log_line(
    bot_api: BotApiThread, otlp_receiver: OtlpReceiver, caplog: object
) -> None:
    url = f"{bot_api.url}/bot{bot_api.token}/getMe"
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5) as response:
        assert json.loads(response.read())["ok"] is True
    assert otlp_receiver.endpoint.startswith("http://127.0.0.1:")
    line = f"KIT_CONTROL called {url.replace(bot_api.token, '[REDACTED:bot_token]')}"
    logging.getLogger("kit").warning(line)
    assert_no_leaks({"log": line}, planted=[bot_api.token], controls=["KIT_CONTROL"])
