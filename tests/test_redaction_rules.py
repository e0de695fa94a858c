"""The redaction rules and engine: what is caught, what survives, hostile input."""

from __future__ import annotations

import json
import re

import pytest
import re2

from crocotel.redaction import RULES, Redactor, redact
from crocotel.redaction.rules import PRECHECK_MARKERS, SECRET_KEY_WORDS

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
TOKEN_SECRET = TOKEN.split(":")[1]

PHONES = [
    "+7 916 123-45-67",
    "+7 (916) 123-45-67",
    "+79161234567",
    "+1 (415) 555-2671",
    "+1-415-555-2671",
    "+44 20 7946 0958",
    "+49.30.1234567",
    "+33 1 23 45 67 89",
    "+7\u00a0916\u00a0123\u201145\u201167".replace("\u2011", "-"),
    "+44\u00a020\u00a07946\u00a00958",
    "+7\u202f916\u202f1234567",
    "8 (916) 123-45-67",
    "8(916)1234567",
    "(415) 555-2671",
    "415-555-2671",
    "415.555.2671",
    "1 415 555 2671",
    "8 916 123 45 67",
    "8-916-123-45-67",
    "916 123-45-67",
    "020 7946 0958",
    "07911 123456",
    "030 1234567",
    "01 23 45 67 89",
    "06.12.34.56.78",
    "0049 30 1234567",
]

NEGATIVES = [
    "2024-01-15",
    "15.01.2024",
    "01/15/2024",
    "2024-01-15T12:30:45Z",
    "2024-01-15 12:30:45.123",
    "1705312345",
    "1705312345123",
    "user 123456789 pressed start",
    "chat_id=-1001234567890",
    "update_id 987654321 message_id 4242",
    "order #100234567",
    "order ORD-2024-000123",
    "192.168.100.200",
    "10.0.0.1:8080",
    "010.123.45.67",
    "version 1.2.3",
    "python 3.11.7",
    "10.0.19045.1234",
    "total 1,234.56 USD",
    "1 234 567,89 RUB",
    "4111 1111 1111 1111",
    "5500 0000 0000 0004",
    "4111-1111-1111-1111",
    "4111111111111111",
    "took 1234 ms, 567 updates",
    "API call 123456789 failed",
    "telegram id 123456789",
    "телеграм 123456789",
    "at 55.755826, 37.617300",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "max_tokens=1000 input_tokens: 52",
    "the token is invalid",
    "Bearer of bad news",
    "keyboard layout ok",
]


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


# -- bot tokens ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"https://api.telegram.org/bot{TOKEN}/getMe",
        f"https://api.telegram.org/file/bot{TOKEN}/photos/file_1.jpg",
        f"GET /bot{TOKEN}/sendMessage?chat_id=1 HTTP/1.1",
        f"https://example.com/hook?token={TOKEN}&x=1",
        f"https://example.com/hook?t={TOKEN.replace(':', '%3A')}",
        f"ValueError: bad token {TOKEN}\n  File 'bot.py', line 3",
        json.dumps({"config": {"bot": TOKEN}}),
        f"token={TOKEN}",
        f"{TOKEN}",
        f"x{TOKEN}y",
    ],
)
def test_bot_tokens_are_redacted(text: str) -> None:
    out = redact(text)
    assert TOKEN_SECRET not in out
    assert "123456789" not in out
    assert "[REDACTED:bot_token]" in out


def test_token_is_redacted_before_phones() -> None:
    out = redact(f"+{TOKEN}")
    assert TOKEN_SECRET not in out and "[REDACTED:bot_token]" in out


def test_token_in_url_keeps_the_rest() -> None:
    assert (
        redact(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage")
        == "POST https://api.telegram.org/bot[REDACTED:bot_token]/sendMessage"
    )


# -- phones --------------------------------------------------------------------


@pytest.mark.parametrize("phone", PHONES)
def test_phone_formats_are_redacted(phone: str) -> None:
    out = redact(f"contact me at {phone}, thanks")
    assert out == "contact me at [REDACTED:phone], thanks"


@pytest.mark.parametrize("phone", PHONES)
def test_phone_replacement_never_contains_the_digits(phone: str) -> None:
    out = Redactor(hash_key=b"k").text(f"user wrote {phone}")
    assert digits(phone) not in digits(out)
    for group in re.findall(r"\d{3,}", phone):
        assert group not in out


@pytest.mark.parametrize(
    "text",
    [
        "phone: 89161234567",
        "Phone number is 79161234567",
        '{"phone_number": "79161234567"}',
        "tel.: 8 916 1234567",
        "tel:+79161234567",
        "mobile=5551234567",
        "телефон: 89161234567",
        "Тел.: 8 916 123 45 67",
        "text=call%20me%20%2B79161234567",
        "text=%2B7%20916%20123-45-67&x=1",
    ],
)
def test_phone_keyword_or_encoded_context(text: str) -> None:
    out = redact(text)
    assert "[REDACTED:phone]" in out
    assert "1234567" not in digits(out)


@pytest.mark.parametrize("text", NEGATIVES)
def test_false_positives_survive_unchanged(text: str) -> None:
    assert redact(text) is text


def test_many_phones_in_one_line() -> None:
    out = redact("a +7 916 123-45-67, b +44 20 7946 0958; c 8 (916) 123-45-67 d")
    assert out == "a [REDACTED:phone], b [REDACTED:phone]; c [REDACTED:phone] d"


# -- secrets -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2 user=bob", "password=[REDACTED:secret] user=bob"),
        ('{"password": "hun ter2", "x": 1}', '{"password": "[REDACTED:secret]", "x": 1}'),
        ("{'api_key': 'abc def'}", "{'api_key': '[REDACTED:secret]'}"),
        ("?access_token=abc&chat_id=5", "?access_token=[REDACTED:secret]&chat_id=5"),
        ("Authorization: Bearer abcdefghij0123456789", "Authorization: [REDACTED:secret]"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: [REDACTED:secret]"),
        ("Cookie: a=b; session=xyz", "Cookie: [REDACTED:secret]"),
        ("X-Telegram-Bot-Api-Secret-Token: s3cr3t", "X-Telegram-Bot-Api-Secret-Token: [REDACTED:secret]"),
        ("client_secret: q1w2e3", "client_secret: [REDACTED:secret]"),
        ("apiKey=xyz", "apiKey=[REDACTED:secret]"),
        ("sent with Bearer abcdefghij0123456789xyz", "sent with Bearer [REDACTED:secret]"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdef", "jwt [REDACTED:secret]"),
        ("key sk-proj-abcdefghijklmnopqrstuvwxyz", "key [REDACTED:secret]"),
    ],
)
def test_secrets(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_escaped_json_secret_is_not_leaked() -> None:
    out = redact('payload {\\"password\\": \\"hunter2\\", \\"user\\": \\"bob\\"}')
    assert "hunter2" not in out and "[REDACTED:secret]" in out


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "db.password",
        "client_secret",
        "accessToken",
        "telegram.bot.token",
        "api_key",
        "x-api-key",
        "Authorization",
        "http.request.header.authorization",
        "http.request.header.cookie",
        "set-cookie",
        "x-telegram-bot-api-secret-token",
        "session_id",
        "credentials",
    ],
)
def test_secret_keys(redactor: Redactor, key: str) -> None:
    assert redactor.is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["telegram.update.id", "gen_ai.usage.input_tokens", "max_tokens", "keyboard", "http.method", "tokenizer"],
)
def test_not_secret_keys(redactor: Redactor, key: str) -> None:
    assert not redactor.is_secret_key(key)


def test_every_secret_key_word_trips_the_precheck() -> None:
    markers = re2.compile("(?i)" + "|".join(re2.escape(m) for m in PRECHECK_MARKERS))
    for word in SECRET_KEY_WORDS:
        sample = word.replace("[_-]?", "_").replace("s?", "").replace("?", "")
        assert markers.search(sample), word
        assert redact(f"{sample}=v4lue") == f"{sample}=[REDACTED:secret]", word


# -- engine behaviour ----------------------------------------------------------


def test_unchanged_text_is_the_same_object(redactor: Redactor) -> None:
    text = "".join(["handler start ", "finished"])
    assert redactor.text(text) is text
    digits_only = "".join(["update 1234567 ", "took 35 ms"])
    assert redactor.text(digits_only) is digits_only


def test_idempotent() -> None:
    once = redact(f"token {TOKEN} phone +7 916 123-45-67 password=x")
    assert redact(once) is once


def test_hash_correlates_without_revealing() -> None:
    hashed = Redactor(hash_key=b"secret-key")
    first = hashed.text("call +7 916 123-45-67")
    second = hashed.text("again +7 (916) 123 45 67")
    other = hashed.text("call +7 916 765-43-21")
    tag = re.fullmatch(r"call \[REDACTED:phone:([0-9a-f]{12})\]", first)
    assert tag is not None
    assert second == f"again [REDACTED:phone:{tag.group(1)}]"
    assert tag.group(1) not in other
    assert Redactor(hash_key=b"another-key").text("call +7 916 123-45-67") != first
    assert hashed.text(first) is first  # the tag is not taken for a phone


def test_counts_by_kind_and_signal() -> None:
    r = Redactor()
    r.text(f"{TOKEN} +7 916 123-45-67", "logs")
    r.text("password=x", "traces")
    r.text("nothing here", "traces")
    assert r.counts() == {("bot_token", "logs"): 1, ("phone", "logs"): 1, ("secret", "traces"): 1}
    snapshot = r.counts()
    r.text("+7 916 123-45-67", "logs")
    assert snapshot[("phone", "logs")] == 1


def test_patterns_are_valid_re2_in_order() -> None:
    patterns = Redactor().patterns()
    assert [kind for kind, _, _ in patterns] == ["bot_token", "secret", "phone"]
    assert [rule.kind for rule in RULES] == ["bot_token", "secret", "phone"]
    for kind, pattern, replacement in patterns:
        re2.compile(pattern)
        assert f"[REDACTED:{kind}]" in replacement


# -- value() -------------------------------------------------------------------


def test_value_types(redactor: Redactor) -> None:
    phone = "+7 916 123-45-67"
    assert redactor.value(phone) == "[REDACTED:phone]"
    assert redactor.value(phone.encode()) == "[REDACTED:phone]"
    assert redactor.value(b"\xff\xfe plain") == "\ufffd\ufffd plain"
    assert redactor.value([phone, 1]) == ["[REDACTED:phone]", 1]
    assert redactor.value((phone, None)) == ("[REDACTED:phone]", None)
    for scalar in (1, 1.5, True, None, 79161234567):
        assert redactor.value(scalar) is scalar
    assert redactor.value({1, 2}) == "{1, 2}"
    assert redactor.value({"a": phone, "password": "x", "token": 5, "n": 1}) == {
        "a": "[REDACTED:phone]",
        "password": "[REDACTED:secret]",
        "token": "[REDACTED:secret]",
        "n": 1,
    }


def test_value_unchanged_is_same_object(redactor: Redactor) -> None:
    nested = {"a": ["x", ("y", 1)], "b": {"c": None}}
    assert redactor.value(nested) is nested
    items = ["a", "b"]
    assert redactor.value(items) is items


def test_value_under_phone_key(redactor: Redactor) -> None:
    assert redactor.value({"phone_number": 79161234567}) == {"phone_number": "[REDACTED:phone]"}
    assert redactor.value("79161234567", key="contact.phone") == "[REDACTED:phone]"
    assert redactor.value(True, key="phone_verified") is True


def test_value_key_is_redacted_if_it_holds_a_phone(redactor: Redactor) -> None:
    assert redactor.value({"+7 916 123-45-67": 1}) == {"[REDACTED:phone]": 1}


def test_attributes(redactor: Redactor) -> None:
    attrs = {"http.method": "GET", "n": 3}
    assert redactor.attributes(attrs, "traces") is attrs
    assert redactor.attributes(None, "traces") is None
    out = redactor.attributes({"url.full": f"https://x/bot{TOKEN}/getMe", "api_key": "k", "n": 3}, "traces")
    assert out == {
        "url.full": "https://x/bot[REDACTED:bot_token]/getMe",
        "api_key": "[REDACTED:secret]",
        "n": 3,
    }
    assert redactor.attributes({"tags": ("a", "+7 916 123-45-67")}, "traces") == {
        "tags": ("a", "[REDACTED:phone]")
    }


# -- hostile input -------------------------------------------------------------


def test_ten_megabytes_of_digits_and_separators_completes(redactor: Redactor) -> None:
    chunk = "+7 916 123-45-67 (8) 1.2.3 -- 0000 4111 1111 " * 10
    repeats = 10_000_000 // len(chunk) + 1
    out = redactor.text(chunk * repeats)
    # scrubbed like the small chunk, every time: no error marker, nothing skipped past a size limit
    small = redactor.text(chunk)
    assert "[REDACTED:phone]" in small and "[REDACTED:error]" not in small
    assert out == small * repeats
    plain = "1234567890 -.() "
    assert redactor.text(plain * 700_000) == redactor.text(plain) * 700_000 == plain * 700_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token=" * 300_000, "token=[REDACTED:secret]"),  # the value of the first key runs to the end
        ('password: "' + "a" * 1_000_000, 'password: "[REDACTED:secret]'),
        ("phone: 1 " * 200_000, "phone: 1 " * 200_000),  # not a phone number: kept as is
        ("7" * 1_000_000, "7" * 1_000_000),  # a million digits is no phone number either
    ],
    ids=["repeated-key", "unterminated-secret", "phone-key-no-number", "digit-run"],
)
def test_hostile_patterns_complete(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor.text(text) == expected


def test_lone_surrogates_are_sanitised(redactor: Redactor) -> None:
    out = redactor.text("bad \ud800 +7 916 123-45-67")
    assert out == "bad ? [REDACTED:phone]"
    out.encode("utf-8")
    assert redactor.text("\udcff!") == "?!"


def test_cyclic_and_deep_structures(redactor: Redactor) -> None:
    cyclic: list[object] = ["+7 916 123-45-67"]
    cyclic.append(cyclic)
    out = redactor.value(cyclic)
    assert out == ["[REDACTED:phone]", "[REDACTED:limit]"]
    loop: dict[str, object] = {}
    loop["self"] = loop
    assert redactor.value(loop) == {"self": "[REDACTED:limit]"}
    deep: list[object] = ["leaf"]
    for _ in range(10_000):
        deep = [deep]
    assert "[REDACTED:limit]" in json.dumps(redactor.value(deep))
    wide = [["x"] * 100] * 1000
    assert "[REDACTED:limit]" in json.dumps(redactor.value(wide))


def test_never_raises_and_drops_what_it_cannot_read(redactor: Redactor) -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert redactor.value(Broken()) == "[REDACTED:error]"
    assert redactor.value({"a": Broken()}) == {"a": "[REDACTED:error]"}
    assert redactor.text(None) == "None"  # type: ignore[arg-type]
    assert redactor.text(b"+7 916 123-45-67") == "[REDACTED:phone]"  # type: ignore[arg-type]
    assert redactor.counts()[("error", "api")] == 2


def test_mutating_mapping_is_dropped_not_passed(redactor: Redactor) -> None:
    class Exploding(dict[str, str]):
        def items(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("changed size during iteration")

    assert redactor.value(Exploding(a="+7 916 123-45-67")) == "[REDACTED:error]"
    assert redactor.attributes(Exploding(a="x"), "logs") == {}


def test_clean_cache_never_hides_a_phone_learnt_later() -> None:
    redactor = Redactor()
    text = "reply to 89161234567 later"  # a bare national number: the rules leave it
    assert redactor.text(text, "logs") is text
    assert redactor.text(text, "logs") is text  # now answered from the clean cache
    redactor.learn_phone("89161234567")
    redacted = redactor.text(text, "logs")
    assert "89161234567" not in redacted and "[REDACTED:phone]" in redacted


def test_repeated_clean_values_stay_clean_and_dirty_ones_stay_redacted() -> None:
    redactor = Redactor()
    for _ in range(3):
        assert redactor.text("sendMessage", "traces") == "sendMessage"
        assert "[REDACTED:phone]" in redactor.text("call +44 20 7946 0958", "traces")
    assert redactor.counts()[("phone", "traces")] == 3
