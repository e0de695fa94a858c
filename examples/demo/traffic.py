"""Synthetic users for the demo: a realistic mix of what people send a bot, and a few faults.

Twenty users chat with crocbot: mostly plain text (echoed), commands, slow
``/quote`` calls, some bad input the error handler answers, a division by
zero nobody catches, stickers and unknown commands no handler takes. One
user has blocked the bot (its replies get 403), flood control strikes now
and then (429 with ``retry_after``), and once a second "instance" steals the
long poll (409), so every outcome and error shows up in the telemetry.
The mix is seeded: two runs send the same traffic.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from crocotel.testing import BotApiThread

__all__ = ["BLOCKED_USER", "Traffic"]

USERS = tuple(range(2000, 2020))
BLOCKED_USER = 2013

_TEXTS = (
    "hello",
    "how are you?",
    "what's new",
    "good morning!",
    "tell me something",
    "ok",
    "thanks",
    "bye",
)
# (weight, kind)
_MIX = (
    (40, "text"),
    (8, "start"),
    (6, "help"),
    (12, "quote"),
    (8, "divide"),
    (4, "bad_divide"),
    (3, "zero_divide"),
    (5, "sticker"),
    (4, "unknown_command"),
    (4, "phone"),
)


def _sticker(chat_id: int) -> dict[str, object]:
    return {
        "message": {
            "message_id": random.randint(1, 10**9),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Demo"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Demo"},
            "sticker": {
                "file_id": "demo-sticker",
                "file_unique_id": "demo-sticker-unique",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            },
        }
    }


class Traffic:
    """Sends ``total`` updates to the stand-in, ``rate`` per second, with faults sprinkled in."""

    def __init__(self, api: BotApiThread, total: int, rate: float = 20.0, seed: int = 7) -> None:
        self.api = api
        self.total = total
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.random = random.Random(seed)
        self.sent = 0
        kinds, weights = zip(*((kind, weight) for weight, kind in _MIX), strict=True)
        self._kinds: tuple[str, ...] = kinds
        self._weights: tuple[int, ...] = weights

    def run(self, keep_going: Callable[[], bool] = lambda: True) -> None:
        """Send every update (stops early when ``keep_going()`` turns false)."""
        self.api.block_chat(BLOCKED_USER)
        for i in range(self.total):
            if not keep_going():
                return
            if i == self.total // 3:
                self.api.conflict_next()  # a second instance polls once
            if i % 50 == 25:
                self.api.flood_next("sendMessage", retry_after=1)
            self._send_one()
            self.sent += 1
            if self.interval:
                time.sleep(self.interval)

    def _send_one(self) -> None:
        rnd = self.random
        user = rnd.choice(USERS)
        kind = rnd.choices(self._kinds, self._weights)[0]
        if kind == "sticker":
            self.api.push_update(_sticker(user))
            return
        if kind == "phone":
            text = "my number is 89161234567, call me"
            entity = {"type": "phone_number", "offset": 13, "length": 11}
            self.api.push_message(text, chat_id=user, user_id=user, entities=[entity])
            return
        self.api.push_message(self._text(kind), chat_id=user, user_id=user)

    def _text(self, kind: str) -> str:
        rnd = self.random
        if kind == "text":
            return rnd.choice(_TEXTS)
        if kind == "divide":
            return f"/divide {rnd.randint(1, 99)} {rnd.randint(1, 9)}"
        if kind == "bad_divide":
            return "/divide ten two"
        if kind == "zero_divide":
            return f"/divide {rnd.randint(1, 9)} 0"
        if kind == "unknown_command":
            return rnd.choice(("/settings", "/menu", "/stop"))
        return "/" + kind  # start, help, quote
