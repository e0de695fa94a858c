"""Redaction of bot tokens, phone numbers and secrets from every signal.

``Redactor`` holds the engine (optionally with a keyed hash for phone numbers),
``redact`` is a ready default without hashing, ``RULES`` is the rule set as
data. The span, log, metric and URL adapters live in the submodules
``spans``, ``logs``, ``metrics`` and ``urls`` and are imported on demand.
"""

from __future__ import annotations

from crocotel.redaction.engine import Redactor
from crocotel.redaction.rules import RULES, Rule

__all__ = ["RULES", "Redactor", "Rule", "redact"]

_DEFAULT = Redactor()


def redact(text: str) -> str:
    """Return ``text`` with tokens, phone numbers and secrets replaced (no hashing)."""
    return _DEFAULT.text(text)
