"""Search every output of a bot for secrets planted in it: the test kit's leak check.

Plant a bot token and phone numbers where your bot logs, traces and counts, run it, then hand
every output (stdout, stderr, OTLP bodies, a ``/metrics`` scrape) to :func:`assert_no_leaks`
with what you planted and a few positive-control words logged beside them. The check fails when
any planted value shows, in any of the shapes it takes on the way out (a token's secret half,
a phone number's bare digits), and also when a control is missing: an output that carried
nothing cannot pass. Failure messages name the output and the planted value's index, never
the value itself, so a failing CI log does not leak it either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["assert_no_leaks", "find_leaks", "shapes_of"]

_TOKEN = re.compile(r"^(?P<bot>[0-9]{6,12}):(?P<secret>[A-Za-z0-9_-]{20,})$")
_NOT_DIGIT = re.compile(r"[^0-9]")


def shapes_of(planted: str) -> list[str]:
    """The forms ``planted`` may take in an output.

    A bot token shows as itself, URL-encoded, or as its secret half alone; a phone number
    (7 or more digits) as written, or as its bare digits and their last 7 or more.
    """
    shapes = [planted]
    token = _TOKEN.match(planted)
    if token is not None:
        shapes += [planted.replace(":", "%3A"), token.group("secret")]
        return shapes
    digits = _NOT_DIGIT.sub("", planted)
    if len(digits) >= 7:
        shapes += [digits, digits[-7:]]
    return list(dict.fromkeys(shapes))


def find_leaks(outputs: Mapping[str, str], planted: Iterable[str]) -> list[tuple[str, int]]:
    """(output name, index of the planted value) for every planted value found in an output."""
    found: list[tuple[str, int]] = []
    for index, value in enumerate(planted):
        forms = shapes_of(value)
        for name, text in outputs.items():
            if any(form in text for form in forms):
                found.append((name, index))
    return found


def assert_no_leaks(outputs: Mapping[str, str], planted: Iterable[str], controls: Iterable[str] = ()) -> None:
    """Fail if a planted value shows in any output, or a control is missing from one.

    ``controls`` are words the bot logged next to the planted values; each must appear in
    every output, which proves the output carried the records the secrets were in.
    """
    values = list(planted)
    if not values:
        raise ValueError("assert_no_leaks needs at least one planted value")
    problems = [f"planted value #{index} found in {name}" for name, index in find_leaks(outputs, values)]
    for control in controls:
        problems += [
            f"control {control!r} missing from {name}"
            for name, text in outputs.items()
            if control not in text
        ]
    if problems:
        raise AssertionError("; ".join(problems))
