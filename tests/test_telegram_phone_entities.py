"""Phone numbers Telegram marks itself (``phone_number`` entities) are redacted verbatim."""

from __future__ import annotations

import threading

from crocotel.redaction import Redactor
from crocotel.redaction.engine import MAX_KNOWN_PHONES

BARE = "89161234567"  # a bare national number: the rules cannot tell it from an id


def test_a_learnt_number_is_redacted_where_the_rules_miss_it() -> None:
    redactor = Redactor()
    text = f"user 42 wrote: call {BARE} after 5"
    assert redactor.text(text, "logs") is text  # positive control: the rules alone keep it
    redactor.learn_phone(BARE)
    out = redactor.text(text, "logs")
    assert BARE not in out and "[REDACTED:phone]" in out
    assert "user 42 wrote" in out
    assert redactor.counts()[("phone", "logs")] == 1


def test_learnt_numbers_are_hashed_like_the_rules_do() -> None:
    redactor = Redactor(hash_key=b"k")
    redactor.learn_phone(BARE)
    first, second = redactor.text(f"a {BARE}"), redactor.text(f"b {BARE}")
    assert BARE not in first and first.split()[1] == second.split()[1]
    assert first.split()[1].startswith("[REDACTED:phone:")


def test_short_values_are_not_learnt_and_ids_survive() -> None:
    redactor = Redactor()
    redactor.learn_phone("12345")
    redactor.learn_phone("")
    assert redactor.text("order 12345 shipped") == "order 12345 shipped"
    assert redactor.text("chat 1234567890123") == "chat 1234567890123"


def test_the_number_of_learnt_numbers_is_bounded() -> None:
    redactor = Redactor()
    for n in range(MAX_KNOWN_PHONES + 10):
        redactor.learn_phone(f"8{n:010d}")
    assert "8" + f"{0:010d}" in redactor.text("8" + f"{0:010d}")  # the oldest is forgotten
    newest = f"8{MAX_KNOWN_PHONES + 9:010d}"
    assert newest not in redactor.text(newest)


def test_learning_while_other_threads_redact() -> None:
    redactor = Redactor()
    errors: list[str] = []

    def redact_loop() -> None:
        for _ in range(300):
            out = redactor.text(f"x {BARE} y")
            if "REDACTED:error" in out:
                errors.append(out)

    threads = [threading.Thread(target=redact_loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    for n in range(200):
        redactor.learn_phone(f"7{n:010d}")
    redactor.learn_phone(BARE)
    for thread in threads:
        thread.join(10)
    assert not errors
    assert BARE not in redactor.text(f"x {BARE} y")
