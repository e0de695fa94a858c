"""Making log values safe to write: redacted, secret keys masked, and plain JSON types only.

Every output (JSON, text, logfmt, OTLP) goes through one :class:`Scrubber`, so what is hidden
in one place is hidden in all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from itertools import islice
from typing import Any

SECRET_MASK = "[REDACTED:secret]"

# JSON-safe plain values: what :meth:`Scrubber.value` returns (nested lists and dicts of these).
Plain = Any

_MAX_DEPTH = 6
_MAX_ITEMS = 100
_MAX_KEY_CACHE = 4096
_MAX_SHORT = 64  # longer text (messages) may be asked for twice in a row: see _redact_once
_MAX_CLEAN = 4096
_PHONE_DIGITS = 7  # the fewest digits a phone number or a token can have
_NO_DIGITS = str.maketrans("", "", "0123456789")
_INT64 = 2**63


def safe_str(value: object) -> str:
    """``str(value)``, falling back to ``repr`` and then to the type name: never raises."""
    try:
        return str(value)
    except Exception:
        pass
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


_last: tuple[object, str, str] = (None, "", "")


def _redact_once(redact: Callable[[str], str], value: str) -> str:
    """``redact(value)``, reusing the previous answer for the same text and engine.

    The stdout formatter and the OTLP bridge both redact each record's message, one
    right after the other; the second asks for the very text the first just did. The
    pair is one tuple, swapped in atomically, so threads cannot mix answers.
    """
    global _last
    engine, text, result = _last
    if engine is redact and text == value:
        return result
    result = redact(value)
    _last = (redact, value, result)
    return result


class Scrubber:
    """Redacts strings and masks values under secret-looking keys.

    ``redact`` is the redaction engine's text function (``None``: redaction off);
    ``is_secret_key`` tells which field names are sensitive (secrets, phone numbers);
    ``keyed`` gives the replacement for a value under such a key, or None to redact it as
    usual (the engine's :meth:`Redactor.keyed`); without it sensitive values are masked whole.
    Key verdicts are cached: keys come from code, so the set is small.
    """

    def __init__(
        self,
        redact: Callable[[str], str] | None,
        is_secret_key: Callable[[str], bool] | None,
        keyed: Callable[[object, str], object | None] | None = None,
    ) -> None:
        self.redact = redact
        self.is_secret_key = is_secret_key
        self.keyed = keyed
        self._secret: dict[str, bool] = {}
        self.clean: set[str] = set()  # short values the engine left as they were, without 7 digits

    def text(self, value: str) -> str:
        """``value`` redacted.

        Short values that repeat on every record (``private``, ``message``) are remembered
        once the engine has left them as they were. Only values with fewer than 7 digits are
        remembered: no rule and no learnt phone number can ever match those, so the cache
        never hides a redaction (and every real redaction still runs and is counted).
        """
        redact = self.redact
        if redact is None:
            return value
        if len(value) > _MAX_SHORT:
            return _redact_once(redact, value)
        clean = self.clean
        if value in clean:
            return value
        result = redact(value)
        if result is value and len(value) - len(value.translate(_NO_DIGITS)) < _PHONE_DIGITS:
            if len(clean) >= _MAX_CLEAN:
                clean.clear()
            clean.add(value)
        return result

    def secret(self, key: str) -> bool:
        """Whether the field called ``key`` must be masked."""
        check = self.is_secret_key
        if check is None:
            return False
        verdict = self._secret.get(key)
        if verdict is None:
            verdict = bool(check(key))
            if len(self._secret) < _MAX_KEY_CACHE:
                self._secret[key] = verdict
        return verdict

    def mask(self, key: str, value: object) -> Plain | None:
        """The replacement for ``value`` under the sensitive ``key``, or None to redact it as usual."""
        if self.keyed is None:
            return SECRET_MASK
        masked = self.keyed(value, key)
        return masked if masked is None or isinstance(masked, str) else safe_str(masked)

    def field(self, key: str, value: object) -> Plain:
        """The value of field ``key`` made safe: masked if the key is secret, else :meth:`value`."""
        if self.secret(key):
            masked = self.mask(key, value)
            if masked is not None:
                return masked
        try:
            return self.value(value)
        except Exception:  # a container that fails while being walked
            return f"<unrepresentable {type(value).__name__}>"

    def value(self, value: object, depth: int = 0) -> Plain:
        """``value`` as plain JSON types with every string redacted.

        Non-finite floats and integers beyond 64 bits become strings (JSON and OTLP cannot carry
        them); anything else unknown is rendered with ``str``; containers are walked to a bounded
        depth and length so a huge or cyclic structure cannot stall the logging call.
        """
        kind = type(value)
        if kind is str:
            return self.text(value)  # type: ignore[arg-type]
        if value is None or kind is bool:
            return value
        if kind is int:
            return value if -_INT64 <= value < _INT64 else str(value)  # type: ignore[operator]
        if kind is float:
            return value if math.isfinite(value) else str(value)  # type: ignore[arg-type]
        if depth < _MAX_DEPTH:
            if isinstance(value, Mapping):
                out: dict[str, Plain] = {}
                for i, (k, v) in enumerate(value.items()):
                    if i == _MAX_ITEMS:
                        out["..."] = f"{len(value) - i} more"
                        break
                    key = self.text(k) if type(k) is str else self.text(safe_str(k))
                    masked = self.mask(key, v) if self.secret(key) else None
                    out[key] = self.value(v, depth + 1) if masked is None else masked
                return out
            if isinstance(value, (list, tuple, set, frozenset)):
                items = [self.value(v, depth + 1) for v in islice(value, _MAX_ITEMS)]
                if len(value) > _MAX_ITEMS:
                    items.append(f"... {len(value) - _MAX_ITEMS} more")
                return items
        if isinstance(value, str):  # str subclasses, e.g. enum.StrEnum members
            return self.text(str.__str__(value))
        if isinstance(value, (bytes, bytearray)):
            return self.text(bytes(value).decode("utf-8", "backslashreplace"))
        return self.text(safe_str(value))
