"""pytest fixtures for testing a bot's telemetry without Telegram or a Collector.

Registered through the ``pytest11`` entry point, so installing crocotel (``pip install
crocotel[testing]`` brings pytest) makes them available in any test suite; nothing is
imported or started until a test asks for a fixture.

- ``bot_api``: the Bot API stand-in on 127.0.0.1 in a thread; point your bot's API base URL
  at ``bot_api.url`` and use ``bot_api.token``.
- ``otlp_receiver``: an OTLP/HTTP receiver; set ``OTEL_EXPORTER_OTLP_ENDPOINT`` to
  ``otlp_receiver.endpoint`` and read back ``spans()``, ``logs()``, ``metrics()``.
- :func:`crocotel.testing.leaks.assert_no_leaks` checks every output for planted secrets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

__all__ = ["bot_api", "otlp_receiver"]

if TYPE_CHECKING:
    from crocotel.testing import BotApiThread, OtlpReceiver


@pytest.fixture
def bot_api() -> Iterator[BotApiThread]:
    """The Telegram Bot API stand-in, serving ``/bot<token>/<method>`` on 127.0.0.1."""
    from crocotel.testing import BotApiThread

    with BotApiThread() as api:
        yield api


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP receiver on 127.0.0.1 that decodes what it is sent."""
    from crocotel.testing import OtlpReceiver

    with OtlpReceiver() as receiver:
        yield receiver
