"""Test doubles shipped with crocotel: a Telegram Bot API stand-in and an OTLP receiver.

They are used by crocotel's own tests, the demo and the benchmarks, and by users
who want to test their instrumented bot without Telegram or a Collector.
Imports are lazy so that, say, the OTLP receiver does not pull in aiohttp, and
``python -m crocotel.testing.botapi`` does not import itself twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crocotel.testing._loop_thread import LoopThread
    from crocotel.testing.botapi import BotApiStandIn, BotApiThread
    from crocotel.testing.otlp import OtlpReceiver

__all__ = ["BotApiStandIn", "BotApiThread", "LoopThread", "OtlpReceiver"]

_HOMES = {
    "BotApiStandIn": "crocotel.testing.botapi",
    "BotApiThread": "crocotel.testing.botapi",
    "LoopThread": "crocotel.testing._loop_thread",
    "OtlpReceiver": "crocotel.testing.otlp",
}


def __getattr__(name: str) -> object:
    """Import the exported classes on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
