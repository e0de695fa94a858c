"""The redaction corpus (tests/data/redaction_corpus.jsonl) and how it is scored.

Each item is a message as a user or a library writes it, labelled with the phone numbers
and bot tokens that must go and the ids, dates, amounts and other numbers that must stay.
The same scoring serves the in-process engine and the agent Collector.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).parent / "data" / "redaction_corpus.jsonl"
MARKERS = {"phones": "[REDACTED:phone]", "tokens": "[REDACTED:bot_token]"}
_HASHED = re.compile(r"\[REDACTED:phone:[0-9a-f]{12}\]")
_ANY_MARKER = re.compile(r"\[REDACTED:[a-z_]+\]")

# Targets from the issue.
PHONE_RECALL = 0.98
TOKEN_RECALL = 1.0
NEGATIVES_KEPT = 0.99


@dataclass(frozen=True)
class Item:
    """One labelled message."""

    lang: str
    text: str
    phones: tuple[str, ...]
    tokens: tuple[str, ...]
    keep: tuple[str, ...]

    @property
    def expected(self) -> str:
        """The text with every phone and token replaced by its marker, the rest unchanged."""
        out = self.text
        for kind in ("tokens", "phones"):
            for secret in getattr(self, kind):
                out = out.replace(secret, MARKERS[kind])
        return out


@dataclass
class Scores:
    """Recall of phones and tokens, share of negatives kept, and what went wrong."""

    phones: int = 0
    phones_caught: int = 0
    tokens: int = 0
    tokens_caught: int = 0
    negatives: int = 0
    negatives_kept: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def phone_recall(self) -> float:
        return self.phones_caught / self.phones

    @property
    def token_recall(self) -> float:
        return self.tokens_caught / self.tokens

    @property
    def kept(self) -> float:
        return self.negatives_kept / self.negatives

    def summary(self) -> str:
        return (
            f"phone recall {self.phone_recall:.3f} ({self.phones_caught}/{self.phones}), "
            f"token recall {self.token_recall:.3f} ({self.tokens_caught}/{self.tokens}), "
            f"negatives kept {self.kept:.3f} ({self.negatives_kept}/{self.negatives})"
        )


def load() -> list[Item]:
    """The corpus items."""
    items = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            items.append(
                Item(raw["lang"], raw["text"], tuple(raw["phones"]), tuple(raw["tokens"]), tuple(raw["keep"]))
            )
    return items


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def _leaks(secret: str, out: str) -> bool:
    """Whether any part of ``secret`` survives: itself, or one of its 3+ digit groups."""
    if secret in out:
        return True
    digits_out = _ascii_digits(out)
    groups = re.findall(r"[0-9]{3,}", _ascii_digits(secret))
    if ":" in secret:  # a token: its secret half
        groups.append(secret.rsplit(":", 1)[-1][-20:])
    return any(group in digits_out for group in groups)


def normalise(out: str) -> str:
    """``out`` with hashed phone markers written plainly."""
    return _HASHED.sub(MARKERS["phones"], out)


def score(items: Sequence[Item], redact: Callable[[Item], str], any_kind: bool = False) -> Scores:
    """Score ``redact`` (an item to its redacted text) over ``items``.

    With ``any_kind``, a marker of another kind in the right place is as good (the Collector's
    secret rule re-marks ``token=[REDACTED:bot_token]`` as a secret; nothing leaks).
    """
    scores = Scores()
    for item in items:
        out = normalise(redact(item))
        problems = []
        for kind in ("phones", "tokens"):
            for secret in getattr(item, kind):
                setattr(scores, kind, getattr(scores, kind) + 1)
                if _leaks(secret, out):
                    problems.append(f"{kind[:-1]} {secret!r} leaked")
                else:
                    setattr(scores, kind + "_caught", getattr(scores, kind + "_caught") + 1)
        negatives = item.keep or (() if item.phones or item.tokens else (item.text,))
        for keep in negatives:
            scores.negatives += 1
            if keep in out and (item.keep or out == item.text):
                scores.negatives_kept += 1
            else:
                problems.append(f"{keep!r} not kept")
        same = out == item.expected
        if any_kind:
            same = _ANY_MARKER.sub("[REDACTED]", out) == _ANY_MARKER.sub("[REDACTED]", item.expected)
        if not problems and not same:
            problems.append("the rest of the text changed")
            scores.negatives_kept -= 1  # counted as a negative lost: text that had to stay changed
        if problems:
            scores.failures.append(f"[{item.lang}] {item.text!r} -> {out!r}: {'; '.join(problems)}")
    return scores
