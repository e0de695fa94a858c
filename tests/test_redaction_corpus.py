"""Phone numbers as people write them, tokens, and the numbers that must stay: the corpus."""

from __future__ import annotations

from crocotel.redaction import Redactor
from tests.redaction_corpus import NEGATIVES_KEPT, PHONE_RECALL, TOKEN_RECALL, load, score


def test_corpus_covers_languages_and_kinds() -> None:
    items = load()
    assert len({item.lang for item in items}) >= 10
    assert sum(len(item.phones) for item in items) >= 100
    assert sum(len(item.tokens) for item in items) >= 10
    assert sum(len(item.keep) for item in items) >= 80
    texts = " ".join(item.text for item in items)
    for digit in "۰٠०０০":  # Persian, Arabic-Indic, Devanagari, full-width, Bengali zeros
        assert digit in texts


def test_corpus_scores_meet_the_targets() -> None:
    redactor = Redactor()
    scores = score(load(), lambda item: redactor.text(item.text))
    print(scores.summary())
    report = scores.summary() + "\n" + "\n".join(scores.failures)
    assert scores.token_recall >= TOKEN_RECALL, report
    assert scores.phone_recall >= PHONE_RECALL, report
    assert scores.kept >= NEGATIVES_KEPT, report


def test_corpus_with_a_hash_key_catches_the_same() -> None:
    plain, hashed = Redactor(), Redactor(hash_key=b"corpus")
    items = load()
    first = score(items, lambda item: plain.text(item.text))
    second = score(items, lambda item: hashed.text(item.text))
    assert (second.phones_caught, second.tokens_caught, second.negatives_kept) == (
        first.phones_caught,
        first.tokens_caught,
        first.negatives_kept,
    )
