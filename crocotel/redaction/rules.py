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

_GROUP_NAME = re2.compile(r"\(\?P<(\w+)>")

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

# Words that make a nearby digit run a phone number, in the languages of Telegram's
# largest markets.  After one of these any 7-15 digits count, a few words away.
# "call" is left out on purpose: "API call 123456789" is common in bot logs and is an id.
PHONE_KEYWORDS: tuple[str, ...] = (
    # English, and words shared by several languages
    "phone(?:[_ -]?(?:number|num|no))?",
    "telephone",
    "tel",
    "mobile",
    "mob",
    "cell(?:phone|ular)?",
    "whats ?app",
    "wa",
    "viber",
    "msisdn",
    # Russian, Ukrainian, Kazakh
    "телефон[а-яё]*",
    "тел",
    "моб(?:ил[а-яёіїє]*|ільн[а-яіїє]*)?",
    "сотов[а-яё]*",
    "в[ао]тсап[а-яё]*",
    "вайбер[а-яё]*",
    "ұялы",
    # Persian, Arabic
    "تلفن",
    "موبایل",
    "واتس ?[اآ]پ",
    "(?:[وب]?ال)?(?:هاتف|جوال|موبايل|تلفون)",
    "واتساب",
    # Hindi
    "फ़ोन",
    "फ\u093cोन",
    "फोन",
    "मोबाइल",
    "व्हाट्सएप",
    # Indonesian, Malay
    "telp",
    "tlp",
    "telepon",
    "telpon",
    "ponsel",
    # Portuguese, Spanish, Italian, French
    "telefone",
    "tel[eé]fono",
    "celular",
    "cel",
    "zap",
    "whats",
    "fone",
    "m[oó]vil",
    "cellulare",
    "t[eé]l[eé]phone",
    "portable",
    "tél",
    # Turkish, German, Uzbek, Polish
    "telefon(?:u|um|unuz|nummer|nr)?",
    "gsm",
    "handy(?:nummer|nr)?",
    "mobil(?:nummer|nr|telefon)?",
    "rufnummer",
    "kom[oó]rk[a-ząęó]*",
)

# Words that often, but not always, announce a phone number ("номер заказа" is an
# order number).  After one of these the digits must follow at once (or after a word
# such as "my", "is", "мой") and look like a mobile number (see _WEAK_NUMBER).
PHONE_WEAK_KEYWORDS: tuple[str, ...] = (
    "номер[а-яё]*",
    "нөмір[а-яөүұқғәіһ]*",
    "номер[а-яіїє]*",
    "контакт[а-яё]*",
    "связ[а-яё]*",
    "звон[а-яё]*",
    "позвон[а-яё]*",
    "شماره",
    "همراه",
    "تماس",
    "(?:[وب]?ال)?رقم",
    "للتواصل",
    "اتصل",
    "नंबर",
    "नम्बर",
    "संपर्क",
    "hp",
    "nomor",
    "nomer",
    "no\\.? ?wa",
    "n[uú]mero",
    "num[eé]ro",
    "contato",
    "contacto",
    "numara[a-zçğıöşü]*",
    "cep",
    "nummer",
    "raqam[a-z]*",
    "(?:my|our) number",
    "contact",
)

# Short words allowed between a weak keyword and the number ("мой номер", "nomor saya").
_WEAK_FILLERS = (
    "is",
    "me",
    "my",
    "at",
    "on",
    "мой",
    "моя",
    "мне",
    "наш",
    "мой",
    "saya",
    "anda",
    "meu",
    "minha",
    "mi",
    "es",
    "é",
    "ist",
    "من",
    "ما",
    "मेरा",
    "benim",
    "mio",
    "è",
    "est",
)

# Decimal digits are matched in the scripts people type them in: ASCII, Arabic-Indic,
# Persian/Urdu, NKo, the Indic scripts (Devanagari, Bengali, Gurmukhi, Gujarati, Oriya,
# Tamil, Telugu, Kannada, Malayalam), Thai, Lao, Tibetan, Myanmar, Khmer, Mongolian and
# full-width forms: the code point of each script's zero.  Explicit ranges rather than
# \p{Nd}, which would make the automaton five times larger for historic scripts and
# mathematical letters.
DIGIT_ZEROS: tuple[int, ...] = (
    0x30,
    0x660,
    0x6F0,
    0x7C0,
    0x966,
    0x9E6,
    0xA66,
    0xAE6,
    0xB66,
    0xBE6,
    0xC66,
    0xCE6,
    0xD66,
    0xE50,
    0xED0,
    0xF20,
    0x1040,
    0x17E0,
    0x1810,
    0xFF10,
)


def _digit_ranges(low: int, high: int) -> str:
    """The digits low..high in every script of DIGIT_ZEROS, as the inside of an RE2 class.

    Written as the characters themselves (not ``\\x{...}``) to keep the patterns short.
    """
    ranges = []
    for zero in DIGIT_ZEROS:
        first, last = chr(zero + low), chr(zero + high)
        ranges.append(first if first == last else first + "-" + last)
    return "".join(ranges)


def _digit_class(low: int, high: int) -> str:
    """An RE2 class of the digits low..high in every script of DIGIT_ZEROS."""
    return "[" + _digit_ranges(low, high) + "]"


_SEPARATORS = r" \x{00A0}\x{2007}\x{2009}\x{202F}"  # space, no-break, figure, thin, narrow no-break

# Building blocks, written @NAME@ in the patterns below.
_PARTS: dict[str, str] = {
    "WORDS": "|".join(SECRET_KEY_WORDS),
    "PHONE_WORDS": "|".join(PHONE_KEYWORDS),
    "WEAK_WORDS": "|".join(PHONE_WEAK_KEYWORDS),
    "FILLERS": "|".join(_WEAK_FILLERS),
    "SPACES": _SEPARATORS,
    "S": r"(?:[" + _SEPARATORS + r".-]|%20)",  # phone separator (%20: in URLs)
    "SN": r"(?:[" + _SEPARATORS + r"-]|%20)",  # the same without '.' (IPs, dates)
    "D": _digit_class(0, 9),  # a decimal digit (see DIGIT_ZEROS)
    "Z": _digit_class(0, 0),
    "NZ": _digit_class(1, 9),
    "D29": _digit_class(2, 9),
    "D59": _digit_class(5, 9),
    "D69": _digit_class(6, 9),
    "D5": _digit_class(5, 5),
    "D7": _digit_class(7, 7),
    "D8": _digit_class(8, 8),
    "D9": _digit_class(9, 9),
    "D3": _digit_class(3, 3),
    "D78": _digit_class(7, 8),
    "D07": _digit_class(0, 7),
    "PLUS": r"(?:\+|%2[Bb])",
    # between two digits of a loose number: at most a separator and a parenthesis
    "G": r"@S@?[()]?@S@?",
    # 7 to 15 digits
    "LOOSE": r"\(?@D@(?:@G@@D@){6,14}",
    # Not a letter, mark, digit or '_': the edge of a word in any script.
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
        """Names of the kept ``pre_*`` and ``post_*`` groups, in the order they open.

        Read from the pattern's text (group numbers follow that order) rather than by compiling
        it a second time: the phone rule's compilation takes megabytes of memory for a moment.
        """
        names = _GROUP_NAME.findall(self.pattern)
        pre = tuple(name for name in names if name.startswith("pre_"))
        post = tuple(name for name in names if name.startswith("post_"))
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
    # 30 or more characters after ':' (Telegram's are 35; its docs' example has 34). No upper
    # bound: a longer run is taken whole rather than left out.
    r"[0-9]{8,10}(?::|%3[Aa])[A-Za-z0-9_-]{30,}",
    "Telegram bot token: 8-10 digit bot id, ':', 30 or more of [A-Za-z0-9_-]",
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

# Non-ASCII characters that are not part of a word: punctuation, quotes, dashes, symbols
# and emoji (☎, 📞), but not '№'.  Every other non-ASCII character counts as a letter or a digit at the
# edge of a number or a keyword, which keeps the classes small for RE2's automaton (a
# \p{L} class would make it 40 times larger).
_PUNCT = (
    r"\x{A1}-\x{BF}\x{2010}-\x{205E}\x{20A0}-\x{20BF}\x{2100}-\x{2115}\x{2117}-\x{215F}\x{2190}-\x{2BFF}"
    r"\x{3000}-\x{303F}\x{FE00}-\x{FE0F}\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF20}\x{1F000}-\x{1FAFF}"
    r"\x{060C}\x{061B}\x{061F}\x{066A}-\x{066D}\x{06D4}\x{0964}\x{0965}"
)


def _not_word(extra: str = "") -> str:
    """A character that is not a letter or digit of any script, nor '_' nor one of ``extra``."""
    return r"(?:[^0-9A-Za-z_\x{80}-\x{10FFFF}" + extra + r"]|[" + _PUNCT + r"])"


def _end(name: str) -> str:
    """The end of a number: no digit or letter follows (any script).

    ``\b`` is ASCII-only in RE2 and Go, so after a digit of another script the next
    character is matched instead, as the kept group ``post_<name>``.
    """
    return r"(?:\b|(?P<post_" + name + r">" + _not_word() + r"|$))"


def _end_of_group(name: str) -> str:
    """Like :func:`_end`, and no separator then digit follows: a number is never cut out of a
    longer run of digit groups (a card number or an IBAN after "tel")."""
    seps = _SEPARATORS + ".-"
    return (
        r"(?P<post_"
        + name
        + r">$|"
        + _not_word(seps)
        + r"|["
        + seps
        + r"](?:$|[^"
        + _digit_ranges(0, 9)
        + r"]))"
    )


_NATIONAL_SHAPES = (
    r"(?:1@S@)?@D@{3}@S@@D@{3}@S@@D@{4}",  # 415-555-2671, 415.555.2671
    r"(?:@D78@@SN@|@Z@@SN@?)?@D@{3}@SN@@D@{3}@SN@@D@{2}@SN@@D@{2}",  # 8 916 123-45-67, 0532 123 45 67
    r"@D@{2}@SN@@D@{3}@SN@@D@{2}@SN@@D@{2}",  # 90 123 45 67 (Uzbekistan)
    r"@D69@@D@{2}@SN@@D@{2}@SN@@D@{2}@SN@@D@{2}",  # 612 34 56 78 (Spain)
    r"(?:@Z@@SN@?|91@SN@)?@D69@@D@{4}@SN@@D@{5}",  # 98765 43210 (India)
    r"@D@{2}@SN@@D9@@D@{4}-@D@{4}",  # 11 98765-4321 (Brazil)
    r"@Z@@D@(?:@S@@D@{2}){4}",  # 01 23 45 67 89
    r"@Z@@D@{2,4}@SN@@D@{3,4}@SN@@D@{3,4}",  # 020 7946 0958, 0912 345 6789, 010 1234 5678
    r"@Z@@D@{4}@SN@@D@{6}",  # 07911 123456
    r"@Z@@D@{2,4}(?:@SN@|/)@D@{5,8}",  # 030 1234567
)

# Shapes that are phone numbers whatever the context: a national trunk 0 and 10-11
# digits (Iran 0912..., Turkey 0532..., UK 07911..., Nigeria 0803..., Egypt 010...,
# Ukraine 050..., Indonesia 0812... up to 13 digits).  Ids and timestamps never start with 0.
_BARE_SHAPES = (
    r"@Z@@NZ@@D@{9}",
    r"@Z@@D59@@D@{8}",
    r"@Z@@D8@@NZ@@D@{7,10}",
)

# Russian and Kazakh mobiles without a '+': 89161234567, 79161234567, 87011234567.  Telegram
# ids have 10 digits at most, so 11 digits starting 89, 79 or 87 are taken as a phone number
# when Cyrillic text is near (before or after, same line).
_CYRILLIC_SHAPES = r"(?:@D78@@D9@@D@{9}|@D8@@D7@@D07@@D@{8})"

# A number that follows a weak keyword, or a strong one a few words away: 9 to 12 digits,
# with a trunk 0 or a leading 3, 5-9 (years, timestamps and ids start with 1, 2 or 4).
_MOBILE = r"\(?(?:@Z@@NZ@(?:@G@@D@){7,10}|(?:@D3@|@D59@)(?:@G@@D@){8,10})"

# The character before a bare number: not a digit, letter, '_', '+', ',', '.', '/', '#',
# '№', '%', '-' or ':' (the hash in our own "[REDACTED:phone:<hex>]").
_BEFORE = r"(?:^|" + _not_word(r"+.,/#:%-") + r")"
# Between a keyword and its number: no letter, digit, '+', '(' or line break.
_GAP = _not_word(r"+(\r\n")
# Punctuation only, or a short word such as "is", "мой", "saya" in it.
_KEYWORD_GAP = r"(?:" + _GAP + r"{0,6}|" + _GAP + r"{1,3}(?i:@FILLERS@)" + _GAP + r"{1,3})"
# A phone keyword is not glued to a letter before it ("telegram" is not "tel"), nor to ':'
# (our own "[REDACTED:phone:<hash>]" is left alone).
_STRONG = r"(?:^|" + _not_word(":") + r")(?i:@PHONE_WORDS@)"
_WEAK = r"(?:^|" + _not_word(":") + r")(?i:@WEAK_WORDS@)"
# A few words, up to 30 characters without a digit, starting and ending off a word.
_WORDS_GAP = _not_word(r"\r\n") + r"[^0-9\r\n]{0,30}?" + _GAP
# Before a national number: not glued to another digit group (card numbers, IBANs).
_APART = r"(?:^|" + _not_word("+@SPACES@.%-") + r"|[^0-9]@S@)"

_PHONE_ALTERNATIVES = (
    # International: "+" then 7-15 digits.
    r"(?P<pre_intl>^|[^0-9]|%[0-9A-Fa-f]{2})@PLUS@@LOOSE@" + _end("intl"),
    # International with 00 and a separator after the country code.
    r"(?P<pre_i00>" + _APART + r")@Z@@Z@@NZ@@D@{0,2}@S@(?:@G@@D@){6,12}" + _end("i00"),
    # A phone keyword just before: any 7-15 digits, separators optional.
    r"(?P<pre_kw>" + _STRONG + _KEYWORD_GAP + r")@PLUS@?@LOOSE@" + _end_of_group("kw"),
    # A phone keyword a few words before: a number that looks like a mobile one.
    r"(?P<pre_kww>" + _STRONG + _WORDS_GAP + r")" + _MOBILE + _end_of_group("kww"),
    # A weak keyword (номер, شماره, nomor, número, ...) just before: a mobile-looking number.
    r"(?P<pre_wk>" + _WEAK + _KEYWORD_GAP + r")" + _MOBILE + _end_of_group("wk"),
    # A WhatsApp link: the international number without '+'.
    r"(?P<pre_wa>(?i:wa\.me/))@D@{7,15}" + _end("wa"),
    # National with the area code in parentheses: 8 (916) 123-45-67, (415) 555-2671.
    r"(?P<pre_par>^|"
    + _not_word("+")
    + r")(?:@D@{1,3}@S@?)?\(@D@{2,5}\)@S@?@D@{3,4}(?:@S@?@D@{2,4}){1,2}"
    + _end("par"),
    # National formats with separators.
    r"(?P<pre_nat>" + _APART + r")(?:" + "|".join(_NATIONAL_SHAPES) + r")" + _end("nat"),
    # Unmistakable shapes, bare.
    r"(?P<pre_bare>" + _BEFORE + r")(?:" + "|".join(_BARE_SHAPES) + r")" + _end("bare"),
    # Russian and Kazakh mobiles, bare, with Cyrillic text before or after on the same line.
    r"(?P<pre_cyr>\p{Cyrillic}(?:[^0-9\r\n]{0,40}" + _BEFORE + r")?)" + _CYRILLIC_SHAPES + _end("cyr"),
    r"(?P<pre_cyr2>"
    + _BEFORE
    + r")"
    + _CYRILLIC_SHAPES
    + r"(?P<post_cyr2>"
    + _not_word(".,")
    + r"[^0-9\r\n]{0,40}?\p{Cyrillic}|\p{Cyrillic})",
)

PHONE = Rule(
    "phone",
    _expand("|".join(_PHONE_ALTERNATIVES)),
    "phone numbers: '+' or '00' international, national formats, unmistakable national mobiles,"
    " or near a phone keyword in one of many languages; digits of any script",
)

RULES: tuple[Rule, ...] = (BOT_TOKEN, SECRET, PHONE)

# Attribute and dict keys.  A secret key's value is replaced wholesale.
SECRET_KEY_PATTERN = _expand("(?i)(?:@WORDS@)(?:$|[^a-z])")
# A phone key's value is redacted as a phone when it holds 7 or more digits.
PHONE_KEY_PATTERN = (
    "(?i)(?:(?:phone(?:[_-]?(?:number|num|no))?|telephone|mobile|cellphone|msisdn)(?:$|[^a-z])"
    "|(?:^|[._-])tel(?:$|[._-]))"
)
