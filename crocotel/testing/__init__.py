"""crocotel's test kit: a Telegram Bot API stand-in, an OTLP receiver and a leak check.

For bot authors testing their bot's telemetry without Telegram or a Collector (see
docs/testing.md; ``pip install crocotel[testing]`` adds the pytest fixtures ``bot_api``
and ``otlp_receiver``), and for crocotel's own tests, demo and benchmarks.
Imports are lazy so that, say, the OTLP receiver does not pull in aiohttp, and
``python -m crocotel.testing.botapi`` does not import itself twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crocotel.testing._loop_thread import LoopThread
    from crocotel.testing.botapi import BotApiStandIn, BotApiThread
    from crocotel.testing.leaks import assert_no_leaks, find_leaks
    from crocotel.testing.otlp import OtlpReceiver

__all__ = [
    "BotApiStandIn",
    "BotApiThread",
    "LoopThread",
    "OtlpReceiver",
    "assert_no_leaks",
    "find_leaks",
    "reset_telemetry",
]

_HOMES = {
    "BotApiStandIn": "crocotel.testing.botapi",
    "BotApiThread": "crocotel.testing.botapi",
    "LoopThread": "crocotel.testing._loop_thread",
    "OtlpReceiver": "crocotel.testing.otlp",
    "assert_no_leaks": "crocotel.testing.leaks",
    "find_leaks": "crocotel.testing.leaks",
    "reset_telemetry": "crocotel.bootstrap",
}


def __getattr__(name: str) -> object:
    """Import the exported classes on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
