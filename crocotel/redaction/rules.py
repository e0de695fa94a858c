"""The redaction rule set: data, not code.

Every pattern is RE2 syntax (matched in linear time, also by the Collector's
Go regexp). Convention: named groups ``pre_*`` / ``post_*`` are context that is
kept; the rest of a match is the sensitive part and becomes ``[REDACTED:kind]``.
Rules run in order: bot tokens, then secrets, then phone numbers (the bot-id
half of a token looks like a phone number). The false-positive policy is in
docs/redaction.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import re2

__all__ = [
    "PHONE_KEY_PATTERN",
    "PRECHECK_MARKERS",
    "RULES",
    "SECRET_KEY_PATTERN",
    "SECRET_KEY_WORDS",
    "Rule",
]

# Key names whose values are secrets (RE2 fragments, matched case-insensitively
# at the end of a key name: ``access_token``, ``X-Telegram-Bot-Api-Secret-Token``,
# ``client_secret``, ``apiKey`` all end in one of these).
SECRET_KEY_WORDS: tuple[str, ...] = (
    "passwords?",
    "passwd",
    "passphrase",
    "pwd",
    "secrets?",
    "token",
    "api[_-]?key",
    "access[_-]?key",
    "private[_-]?key",
    "secret[_-]?key",
    "authorization",
    "cookies?",
    "credentials?",
    "session[_-]?id",
    "signature",
)

# Cheap literal markers (case-insensitive): text with fewer than 7 digits and
# none of these cannot match any rule, so it is returned untouched.
# Each word in SECRET_KEY_WORDS contains one of them (tested).
PRECHECK_MARKERS: tuple[str, ...] = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "authoriz",
    "cookie",
    "credential",
    "session",
    "signature",
    "bearer",
    "eyj",
    "sk-",
)

# Words that make a nearby digit run a phone number.  "call" is left out on
# purpose: "API call 123456789" is common in bot logs and is an id.
PHONE_KEYWORDS: tuple[str, ...] = (
    "phone(?:[_ -]?(?:number|num|no))?",
    "telephone",
    "tel",
    "mobile",
    "cell(?:phone)?",
    "whatsapp",
    "msisdn",
    "телефон[а-яё]*",
    "тел",
    "моб",
)

# Building blocks, written @NAME@ in the patterns below.
_PARTS: dict[str, str] = {
    "WORDS": "|".join(SECRET_KEY_WORDS),
    "PHONE_WORDS": "|".join(PHONE_KEYWORDS),
    "SPACES": r" \x{00A0}\x{2007}\x{2009}\x{202F}",  # space, no-break, figure, thin, narrow no-break
    "S": r"(?:[ \x{00A0}\x{2007}\x{2009}\x{202F}.-]|%20)",  # phone separator (%20: in URLs)
    "SN": r"(?:[ \x{00A0}\x{2007}\x{2009}\x{202F}-]|%20)",  # the same without '.' (IPs, dates)
    "D": "[0-9]",
    "PLUS": r"(?:\+|%2[Bb])",
    # 7 to 15 digits, at most a separator and a parenthesis between two digits.
    "LOOSE": r"\(?[0-9](?:@S@?[()]?@S@?[0-9]){6,14}",
    # key/value separator, tolerating quotes and JSON-escaped quotes around the key
    "SEP": r"\\?[\"']?\s*(?:[:=]|%3[AaDd])\s*",
    # The key's own prefix (``access_`` in ``access_token``) is left outside the match: it is
    # kept either way, and a leading ``[A-Za-z0-9_.-]*`` makes the matcher start at every
    # position (Go's regexp in the Collector slowed 15x by it).
    "KEY": "(?i:@WORDS@)",
}


def _expand(template: str) -> str:
    """Replace @NAME@ building blocks (recursively) in a pattern template."""
    out = template
    while "@" in out:
        before = out
        for name, part in _PARTS.items():
            out = out.replace("@" + name + "@", part)
        if out == before:
            break
    return out


@dataclass(frozen=True)
class Rule:
    """One redaction rule: a kind and an RE2 pattern (see module docstring)."""

    kind: str
    pattern: str
    note: str

    @functools.cached_property
    def groups(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Names of the kept ``pre_*`` and ``post_*`` groups."""
        names = sorted(re2.compile(self.pattern).groupindex.items(), key=lambda item: item[1])
        pre = tuple(name for name, _ in names if name.startswith("pre_"))
        post = tuple(name for name, _ in names if name.startswith("post_"))
        return pre, post

    @property
    def replacement(self) -> str:
        """The replacement as a Go ``regexp.Expand`` template (for the Collector)."""
        pre, post = self.groups
        keep_before = "".join("${" + name + "}" for name in pre)
        keep_after = "".join("${" + name + "}" for name in post)
        return keep_before + "[REDACTED:" + self.kind + "]" + keep_after


BOT_TOKEN = Rule(
    "bot_token",
    # No \b in front: in URLs the id follows "/bot" directly.  ':' may be URL-encoded.
    r"[0-9]{8,10}(?::|%3[Aa])[A-Za-z0-9_-]{35,}",
    "Telegram bot token: 8-10 digit bot id, ':', 35 or more of [A-Za-z0-9_-]",
)

_SECRET_ALTERNATIVES = (
    # "password": "..." (JSON, also JSON escaped inside a string)
    r'(?P<pre_dq>@KEY@@SEP@\\?")(?:[^"\\\r\n]|\\.)+',
    # 'password': '...' (Python repr)
    r"(?P<pre_sq>@KEY@@SEP@\\?')(?:[^'\\\r\n]|\\.)+",
    # Cookie: a=b; c=d  -> the whole header value
    r"(?P<pre_ck>(?i:cookies?)@SEP@)[^\"'\r\n]+",
    # password=..., token: ..., Authorization: Bearer ...
    r"(?P<pre_kv>@KEY@@SEP@)(?:(?i:bearer|basic|digest|negotiate|token|bot)\s+)?[^\s\"'&,;<>]+",
    # Bearer <credential> anywhere (16+ characters, so prose like "bearer of" survives)
    r"(?P<pre_bearer>(?i:\bbearer)\s+)[A-Za-z0-9._~+/-]{16,}=*",
    # JSON Web Token
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    # sk-... API keys (LLM providers)
    r"\bsk-[A-Za-z0-9_-]{20,}",
)

SECRET = Rule(
    "secret",
    _expand("|".join(_SECRET_ALTERNATIVES)),
    "secrets by key name (key=value, key: value, JSON, cookies) and by shape (Bearer, JWT, sk-)",
)

_NATIONAL_SHAPES = (
    r"(?:1@S@)?@D@{3}@S@@D@{3}@S@@D@{4}",  # 415-555-2671, 415.555.2671
    r"(?:[78]@SN@)?@D@{3}@SN@@D@{3}@SN@@D@{2}@SN@@D@{2}",  # 8 916 123-45-67
    r"0@D@(?:@S@@D@{2}){4}",  # 01 23 45 67 89
    r"0@D@{2,4}@SN@@D@{3,4}@SN@@D@{3,4}",  # 020 7946 0958
    r"0@D@{4}@SN@@D@{6}",  # 07911 123456
    r"0@D@{2,4}(?:@SN@|/)@D@{5,8}",  # 030 1234567
)

_PHONE_ALTERNATIVES = (
    # International: "+" then 7-15 digits.
    r"(?P<pre_intl>^|[^0-9]|%[0-9A-Fa-f]{2})@PLUS@@LOOSE@\b",
    # International with 00 and a separator after the country code.
    r"(?P<pre_i00>^|[^0-9A-Za-z_])00[1-9][0-9]{0,2}@S@(?:@S@?[()]?@S@?@D@){6,12}\b",
    # A phone keyword just before: any 7-15 digits, separators optional.  Not after ':',
    # so that our own "[REDACTED:phone:<hash>]" is left alone.
    r"(?P<pre_kw>(?:^|[^0-9A-Za-z_:])(?i:@PHONE_WORDS@)[^0-9A-Za-z\x{0400}-\x{04FF}+(\r\n]{0,6}"
    r"(?:(?i:is|at|on)[^0-9A-Za-z+(\r\n]{1,3})?)@PLUS@?@LOOSE@\b",
    # National with the area code in parentheses: 8 (916) 123-45-67, (415) 555-2671.
    r"(?P<pre_par>^|[^0-9A-Za-z_+])(?:@D@{1,3}@S@?)?\(@D@{2,5}\)@S@?@D@{3,4}(?:@S@?@D@{2,4}){1,2}\b",
    # National formats with separators, not glued to other digit groups (card numbers).
    r"(?P<pre_nat>^|[^0-9A-Za-z_+@SPACES@.%-]|[^0-9]@S@)(?:" + "|".join(_NATIONAL_SHAPES) + r")\b",
)

PHONE = Rule(
    "phone",
    _expand("|".join(_PHONE_ALTERNATIVES)),
    "phone numbers: '+' or '00' international, national formats with separators, or after a phone keyword",
)

RULES: tuple[Rule, ...] = (BOT_TOKEN, SECRET, PHONE)

# Attribute and dict keys.  A secret key's value is replaced wholesale.
SECRET_KEY_PATTERN = _expand("(?i)(?:@WORDS@)(?:$|[^a-z])")
# A phone key's value is redacted as a phone when it holds 7 or more digits.
PHONE_KEY_PATTERN = (
    "(?i)(?:(?:phone(?:[_-]?(?:number|num|no))?|telephone|mobile|cellphone|msisdn)(?:$|[^a-z])"
    "|(?:^|[._-])tel(?:$|[._-]))"
)
