"""The redaction engine: applies :data:`RULES` to text and to structured values.

Text is encoded to UTF-8 once and every rule runs on the bytes with RE2, so
the cost is linear in the input whatever it holds.  A cheap precheck returns
clean text untouched (the same object), which lets callers skip copying.
Nothing here raises: a value that cannot be redacted is dropped and replaced
by ``[REDACTED:error]``; it is never passed through.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import unicodedata
from collections.abc import Mapping
from typing import Any

import re2

from crocotel.redaction.rules import (
    DIGIT_ZEROS,
    PHONE_KEY_PATTERN,
    PRECHECK_MARKERS,
    RULES,
    SECRET_KEY_PATTERN,
    Rule,
)

__all__ = ["ERROR", "LIMIT", "MAX_KNOWN_PHONES", "SECRET", "NullRedactor", "Redactor"]

ERROR = "[REDACTED:error]"
SECRET = "[REDACTED:secret]"
LIMIT = "[REDACTED:limit]"

MAX_DEPTH = 12  # nesting levels walked in dicts, lists and tuples
MAX_NODES = 10_000  # containers and items walked in one value() call
_PRECHECK_MAX = 64 * 1024  # longer text skips the precheck and is always scanned (see _Compiled)
_MIN_DIGITS = 7  # fewest digits any phone or token rule can match
_MIN_LENGTH = 5  # shortest text any rule can match ("pwd=x")
_DIGITS = b"0123456789"
_NOT_DIGITS = bytes(c for c in range(256) if c not in _DIGITS)
_MARK = b"[REDACTED:"
_KEY_CACHE_MAX = 4096
_CLEAN_MAX_LENGTH = 128  # bytes: longer text (log messages, stack traces) rarely repeats
_CLEAN_MAX_ITEMS = 4096
MAX_KNOWN_PHONES = 1024  # numbers learnt from Telegram's phone_number entities


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # hostile input may exhaust the DFA; RE2 then falls back quietly
    return options


class _CompiledRule:
    """A rule compiled for bytes, with the indices of its kept groups."""

    __slots__ = ("kind", "post", "pre", "regex")

    def __init__(self, rule: Rule) -> None:
        self.kind = rule.kind
        self.regex = re2.compile(rule.pattern.encode(), _options())
        pre_names, post_names = rule.groups
        index = self.regex.groupindex
        self.pre = tuple(index[name.encode()] for name in pre_names)
        self.post = tuple(index[name.encode()] for name in post_names)


class _Compiled:
    """Compiled rules, shared by every Redactor (RE2 objects are thread-safe)."""

    def __init__(self) -> None:
        self.rules = tuple(_CompiledRule(rule) for rule in RULES)
        assert [rule.kind for rule in self.rules] == ["bot_token", "secret", "phone"], "see _scan"
        markers = re2.Options()
        markers.case_sensitive = False
        markers.never_capture = True
        markers.log_errors = False
        # A literal alternation: its DFA is tiny, so RE2::Set cannot run out of
        # memory on the short inputs it is given (it would then report no match).
        self.markers = re2.Set.SearchSet(markers)
        self.markers.Add("|".join(re2.escape(m) for m in PRECHECK_MARKERS))
        # Index 1: a digit of another script (the rules match those too). In the same set, so
        # that one pass over the bytes answers both; ASCII text never enters its states.
        self.markers.Add("[" + "".join(f"\\x{{{z:04X}}}-\\x{{{z + 9:04X}}}" for z in DIGIT_ZEROS[1:]) + "]")
        self.markers.Compile()
        self.secret_key = re2.compile(SECRET_KEY_PATTERN, _options())
        self.phone_key = re2.compile(PHONE_KEY_PATTERN, _options())


_COMPILED = _Compiled()
_MAIN = threading.main_thread()
_MARKERS = _COMPILED.markers.Match


class Redactor:
    """Redacts bot tokens, phone numbers and secrets; counts what it redacted."""

    enabled = True

    def __init__(self, *, hash_key: bytes | None = None) -> None:
        self._hash_key = bytes(hash_key) if hash_key else None
        self._counts: dict[tuple[str, str], int] = {}
        self._secret_keys: dict[str, bool] = {}
        self._phone_keys: dict[str, bool] = {}
        self._sensitive_keys: dict[str, bool] = {}
        self._known_phones: dict[bytes, None] = {}
        self._known_rule: _CompiledRule | None = None
        self._known_stale = False
        self._known_lock = threading.Lock()
        # Short strings found clean, returned without a scan next time. Span attribute values
        # repeat (method names, update types, handler names, token-free URLs), so most of an
        # exporter's calls end here. Strings with 7+ digits could turn dirty when a phone
        # number is learnt: they live in their own set, emptied by learn_phone.
        self._clean: set[str] = set()
        self._clean_digits: set[str] = set()
        self.generation = 0
        """Bumped whenever a learnt phone number may have made text dirty that was found clean:
        whoever remembers clean values (here, and the span encoder) forgets them then."""
        self._sealed = False

    # -- text -------------------------------------------------------------

    def text(self, value: str, signal: str = "api") -> str:
        """Return ``value`` redacted; the same object when nothing changed."""
        try:
            if value.__class__ is not str:
                if not isinstance(value, str):
                    return self.text(_to_str(value), signal)
            elif value in self._clean or value in self._clean_digits:
                return value
            if self._sealed and threading.current_thread() is not _MAIN:  # see seal()
                return value if len(value) < _MIN_LENGTH else ERROR
            generation = self.generation
            try:
                data = value.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates: exporters could not encode them either
                data = value.encode("utf-8", "replace")
                return self._scan(data, signal, True, True).decode("utf-8", "replace")
            size = len(data)
            if size > _PRECHECK_MAX:
                digits = markers = True
            else:
                if size < _MIN_LENGTH:
                    return value
                digits = size - len(data.translate(None, _DIGITS)) >= _MIN_DIGITS
                hits = _MARKERS(data)
                if hits is None:
                    markers = False
                else:
                    markers = 0 in hits
                    digits = digits or 1 in hits
                if not (digits or markers):
                    if size <= _CLEAN_MAX_LENGTH and value.__class__ is str:
                        self._remember_clean(value, False, generation)
                    return value
            out = self._scan(data, signal, digits, markers)
            if out is not data:
                return out.decode("utf-8", "replace")
            if size <= _CLEAN_MAX_LENGTH and value.__class__ is str:
                self._remember_clean(value, digits, generation)
            return value
        except Exception:
            self.count("error", signal)
            return ERROR

    def seal(self) -> None:
        """From now on, withhold texts that other threads would need scanned, instead of scanning.

        Called when shutdown's deadline has passed and the interpreter is about to finalize: a
        thread inside RE2's C++ code at that moment (an export thread logging a retry warning,
        say) is torn down through C++ frames and aborts the process. On other threads, texts
        already known clean still pass and the rest become ``[REDACTED:error]``, which leaks
        nothing; the main thread, which finalizes and so is never inside RE2 meanwhile, keeps
        redacting (shutdown's own messages stay readable).
        """
        self._sealed = True

    def _remember_clean(self, value: str, digits: bool, generation: int) -> None:
        """Cache a clean short string (bounded; the digits set only if no phone was learnt meanwhile)."""
        if not digits:
            clean = self._clean
        elif generation == self.generation:
            clean = self._clean_digits
        else:
            return
        if len(clean) >= _CLEAN_MAX_ITEMS:
            clean.clear()
        clean.add(value)

    def _scan(self, data: bytes, signal: str, digits: bool, markers: bool) -> bytes:
        token, secret, phone = _COMPILED.rules
        if digits and (b":" in data or b"%3" in data):
            data = self._apply(token, data, signal)
        if markers:
            data = self._apply(secret, data, signal)
        if digits:
            known = self._known_phones_rule()
            if known is not None:  # before the patterns, so a match never leaves digits behind
                data = self._apply(known, data, signal)
            data = self._apply(phone, data, signal)
        return data

    # -- phone numbers marked by Telegram -------------------------------------

    def learn_phone(self, value: str) -> None:
        """Redact ``value`` verbatim as a phone number from now on; never raises.

        For numbers Telegram itself marked (``MessageEntity`` of type
        ``phone_number``) in a shape the rules miss, such as ``89161234567``.
        Only values with 7 or more digits are kept (the precheck skips text
        with fewer), and only the latest ``MAX_KNOWN_PHONES``.
        """
        try:
            data = value.encode("utf-8")
            if len(data) - len(data.translate(None, _DIGITS)) < _MIN_DIGITS:
                return
            with self._known_lock:
                known = self._known_phones
                if data in known:
                    return
                known[data] = None
                while len(known) > MAX_KNOWN_PHONES:
                    del known[next(iter(known))]
                self._known_stale = True
                self.generation += 1
                self._clean_digits = set()
        except Exception:  # learning is best effort; the rules still apply
            pass

    def _known_phones_rule(self) -> _CompiledRule | None:
        """The learnt numbers as one literal alternation, recompiled after a change."""
        if not self._known_stale:
            return self._known_rule
        with self._known_lock:
            if self._known_stale:
                literals = sorted(self._known_phones, key=len, reverse=True)
                pattern = "|".join(re2.escape(literal.decode("utf-8")) for literal in literals)
                self._known_rule = _CompiledRule(Rule("phone", pattern, "numbers Telegram marked as phones"))
                self._known_stale = False
            return self._known_rule

    def _apply(self, rule: _CompiledRule, data: bytes, signal: str) -> bytes:
        pieces: list[bytes] | None = None
        last = 0
        search = rule.regex.search
        match = search(data)
        while match is not None:
            start, end = match.span()
            for group in rule.pre:
                group_start, group_end = match.span(group)
                if group_start >= 0:
                    start = group_end
                    break
            for group in rule.post:
                group_start, _ = match.span(group)
                if group_start >= 0:
                    end = group_start
                    break
            found = data[start:end]
            if found and not found.startswith(_MARK):  # else already redacted (idempotent)
                if pieces is None:
                    pieces = []
                pieces.append(data[last:start])
                pieces.append(self._marker(rule.kind, found))
                last = end
                self.count(rule.kind, signal)
            # The next search starts where the kept context after this match begins, so that
            # context can be the context before the next number ("+7 916 ... +44 20 ...").
            match = search(data, max(end, match.start() + 1))
        if pieces is None:
            return data
        pieces.append(data[last:])
        return b"".join(pieces)

    def _marker(self, kind: str, found: bytes) -> bytes:
        if kind == "phone" and self._hash_key is not None:
            return b"[REDACTED:phone:" + self._digest(_ascii_digits(found)) + b"]"
        return b"[REDACTED:" + kind.encode() + b"]"

    def _digest(self, digits: bytes) -> bytes:
        """Keyed hash of normalised digits: correlates one number, reveals nothing."""
        assert self._hash_key is not None
        return hmac.new(self._hash_key, digits, hashlib.sha256).hexdigest()[:12].encode()

    # -- structured values ------------------------------------------------

    def value(self, value: object, signal: str = "api", key: str | None = None) -> object:
        """Redact any value: strings, bytes, containers (depth-limited), others via str()."""
        try:
            if key is not None:
                keyed = self.keyed(value, key, signal)
                if keyed is not None:
                    return keyed
            return self._walk(value, signal, 0, [MAX_NODES], set())
        except Exception:
            self.count("error", signal)
            return ERROR

    def attributes(self, attrs: Mapping[str, Any] | None, signal: str) -> Mapping[str, Any] | None:
        """Redact attribute values (secret keys wholesale); the same mapping if unchanged."""
        if attrs is None:  # not ``not attrs``: a span's attributes count themselves in Python
            return attrs
        try:
            out: dict[str, Any] | None = None
            new: object
            sensitive_keys, clean = self._sensitive_keys, self._clean
            for key, item in attrs.items():
                # the common case first, answered from the caches attribute() would look in first:
                # a plain value under an ordinary key, mostly seen before (method names, outcomes)
                kind = item.__class__
                if (
                    kind in _UNKEYED_PLAIN
                    and (sensitive_keys.get(key) if key.__class__ is str else None) is False
                    and (kind is not str or item in clean or item in self._clean_digits)  # read anew:
                ):  # learning a phone number replaces that set
                    continue
                new = self.attribute(key, item, signal)
                if new is not item:
                    if out is None:
                        out = dict(attrs)
                    out[key] = new
            return attrs if out is None else out
        except Exception:
            self.count("error", signal)
            return {}

    def attribute(self, key: str, value: object, signal: str) -> object:
        """One attribute's value redacted (wholesale under a secret or phone key); ``value`` itself
        when nothing changed. What :meth:`attributes` does to each pair, for callers that walk the
        pairs themselves (the span encoder, which remembers the clean ones)."""
        try:
            kind = value.__class__
            if kind in _UNKEYED_PLAIN and not self.is_sensitive_key(key):
                return self.text(value, signal) if kind is str else value  # type: ignore[arg-type]
            return self.value(value, signal, key)
        except Exception:
            self.count("error", signal)
            return ERROR

    def keyed(self, value: object, key: object, signal: str) -> object | None:
        """The replacement for a value under a secret or phone key, else None (redact it as usual)."""
        if not isinstance(key, str) or value is None or (isinstance(value, str) and not value):
            return None
        if self.is_secret_key(key):
            self.count("secret", signal)
            return SECRET
        if isinstance(value, (str, int)) and not isinstance(value, bool) and self._is_phone_key(key):
            digits = _ascii_digits(str(value).encode("utf-8", "replace"))
            if len(digits) >= _MIN_DIGITS:
                self.count("phone", signal)
                return self._marker("phone", digits).decode()
        return None

    def _walk(self, value: object, signal: str, depth: int, budget: list[int], active: set[int]) -> object:
        if isinstance(value, str):
            return self.text(value, signal)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.text(bytes(value).decode("utf-8", "replace"), signal)
        if not isinstance(value, (Mapping, list, tuple)):
            try:
                text = str(value)
            except Exception:  # drop this one value, keep its siblings
                self.count("error", signal)
                return ERROR
            return self.text(text, signal)
        budget[0] -= 1
        if depth >= MAX_DEPTH or budget[0] < 0 or id(value) in active:
            self.count("limit", signal)
            return LIMIT
        active.add(id(value))
        try:
            if isinstance(value, Mapping):
                return self._walk_mapping(value, signal, depth, budget, active)
            return self._walk_sequence(value, signal, depth, budget, active)
        finally:
            active.discard(id(value))

    def _walk_mapping(
        self, value: Mapping[Any, Any], signal: str, depth: int, budget: list[int], active: set[int]
    ) -> object:
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            budget[0] -= 1
            new_key = self.text(key, signal) if isinstance(key, str) else key
            new = self.keyed(item, key, signal)
            if new is None:
                new = self._walk(item, signal, depth + 1, budget, active)
            changed = changed or new is not item or new_key is not key
            out[new_key] = new
        return out if changed else value

    def _walk_sequence(
        self, value: list[Any] | tuple[Any, ...], signal: str, depth: int, budget: list[int], active: set[int]
    ) -> object:
        items = []
        changed = False
        for item in value:
            budget[0] -= 1
            new = self._walk(item, signal, depth + 1, budget, active)
            changed = changed or new is not item
            items.append(new)
        if not changed:
            return value
        return tuple(items) if isinstance(value, tuple) else items

    # -- keys, counts, patterns -------------------------------------------

    def is_secret_key(self, key: str) -> bool:
        """True for key names whose values are secrets (``password``, ``api_key``, ...)."""
        return self._key_check(self._secret_keys, _COMPILED.secret_key, key)

    def is_sensitive_key(self, key: str) -> bool:
        """Whether values under ``key`` need :meth:`keyed` (a secret or a phone-number key).

        Asked for every attribute of every span and record, so the answer is remembered per key
        in one dict (bounded like the other key caches)."""
        try:
            return self._sensitive_keys[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable key: the checks below answer for it
            return self.is_secret_key(key) or self._is_phone_key(key)
        result = self.is_secret_key(key) or self._is_phone_key(key)
        if len(self._sensitive_keys) >= _KEY_CACHE_MAX:
            self._sensitive_keys.clear()
        self._sensitive_keys[key] = result
        return result

    def _is_phone_key(self, key: str) -> bool:
        return self._key_check(self._phone_keys, _COMPILED.phone_key, key)

    @staticmethod
    def _key_check(cache: dict[str, bool], regex: Any, key: str) -> bool:
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:
            return False
        try:
            result = regex.search(key) is not None
        except Exception:
            return True  # a key we cannot read is treated as secret
        if len(cache) >= _KEY_CACHE_MAX:
            cache.clear()
        cache[key] = result
        return result

    def count(self, kind: str, signal: str) -> None:
        """Count one redaction of ``kind`` in ``signal`` (adapters count the values they drop)."""
        counts = self._counts
        counts[(kind, signal)] = counts.get((kind, signal), 0) + 1

    def counts(self) -> dict[tuple[str, str], int]:
        """Snapshot of (kind, signal) -> redactions so far."""
        return dict(self._counts)

    def patterns(self) -> list[tuple[str, str, str]]:
        """(kind, RE2 pattern, Go replacement template) in the order they run."""
        return [(rule.kind, rule.pattern, rule.replacement) for rule in RULES]


class NullRedactor(Redactor):
    """The engine when ``CROCOTEL_REDACT=off``: every value passes through unchanged.

    Callers hold one engine object either way, so no call site asks whether redaction is on.
    """

    enabled = False

    def text(self, value: str, signal: str = "api") -> str:
        """``value`` itself."""
        return value

    def value(self, value: object, signal: str = "api", key: str | None = None) -> object:
        """``value`` itself."""
        return value

    def attributes(self, attrs: Mapping[str, Any] | None, signal: str) -> Mapping[str, Any] | None:
        """``attrs`` itself."""
        return attrs

    def attribute(self, key: str, value: object, signal: str) -> object:
        """``value`` itself."""
        return value

    def keyed(self, value: object, key: object, signal: str) -> object | None:
        """Never a replacement."""
        return None

    def is_sensitive_key(self, key: str) -> bool:
        """No key is treated specially."""
        return False

    def learn_phone(self, value: str) -> None:
        """Nothing to learn."""


_UNKEYED_PLAIN = frozenset((str, int, float, bool, type(None)))
"""Value classes that :meth:`Redactor.value` passes through unchanged, or to ``text()`` for a
``str``, when their key is neither a secret nor a phone key."""


def _to_str(value: object) -> str:
    """str() of anything; bytes are decoded as UTF-8 with replacement."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _ascii_digits(data: bytes) -> bytes:
    """The decimal digits of UTF-8 ``data``, in any script, as ASCII digits ("۰۹۱" -> b"091")."""
    if data.isascii():
        return data.translate(None, _NOT_DIGITS)
    text = data.decode("utf-8", "replace")
    return "".join(str(unicodedata.decimal(ch)) for ch in text if ch.isdecimal()).encode()
