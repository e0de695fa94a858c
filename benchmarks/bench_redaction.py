"""Cost of redaction per call, against a plain ``str.replace`` on the same text.

Cases: a clean short log line (the fast path), a line with digits but no
phone, a line with a phone, a line with a bot token, and a 100 KB hostile
string of digits and separators. Each case is timed as ``Redactor().text(s)``
and, as the baseline measured in the same run, as ``s.replace("\\x00", "")``
(one pass over the text that changes nothing; an ASCII needle, so CPython
really scans instead of returning early). Prints one JSON line at the end.

    .venv/bin/python benchmarks/bench_redaction.py
"""

from __future__ import annotations

import json
import random
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crocotel.redaction import Redactor  # noqa: E402

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"


def hostile(size: int) -> str:
    """Digits, separators and phone-ish fragments: many candidate matches, some real ones."""
    rng = random.Random(7)
    pieces = ["+7 916 123-45-67", "(415) ", "8 ", "2024-01-15", "1.2.3", "-", " ", ".", "+", "(", ")"]
    pieces += [str(rng.randrange(10**9)) for _ in range(20)]
    out: list[str] = []
    length = 0
    while length < size:
        piece = rng.choice(pieces)
        out.append(piece)
        length += len(piece)
    return "".join(out)[:size]


CASES = {
    "clean_line": "INFO aiogram.dispatcher: Update handled by handler 'start' in router 'main', duration ok",
    "digits_no_phone": "INFO update 987654321 from chat -1001234567890 handled in 35 ms at 2024-01-15",
    "phone_line": "INFO user sent contact +7 916 123-45-67 to handler 'contact' in router 'main'",
    "token_line": f"DEBUG POST https://api.telegram.org/bot{TOKEN}/sendMessage 200",
    "hostile_100kb": hostile(100_000),
}


def ns_per_call(func: Callable[[], object], budget_s: float = 0.6) -> float:
    """Best of 5 rounds, each sized to take about budget_s / 5."""
    timer = timeit.Timer(func)
    number, elapsed = timer.autorange()
    number = max(1, int(number * (budget_s / 5) / max(elapsed, 1e-9)))
    return min(timer.repeat(repeat=5, number=number)) / number * 1e9


def main() -> None:
    started = time.perf_counter()
    redactor = Redactor()

    def forget() -> None:
        redactor._clean.clear()
        redactor._clean_digits.clear()

    result: dict[str, object] = {"benchmark": "redaction", "python": sys.version.split()[0]}
    for name, text in CASES.items():
        changed = redactor.text(text) is not text

        def first_sight(text: str = text) -> object:
            forget()  # as for a log line, which never repeats: no cache can answer
            return redactor.text(text)

        redact_ns = ns_per_call(first_sight) - ns_per_call(forget)
        repeat_ns = ns_per_call(lambda text=text: redactor.text(text))  # as for a span attribute value
        base_ns = ns_per_call(lambda text=text: text.replace("\x00", ""))
        result[name] = {
            "bytes": len(text.encode()),
            "changed": changed,
            "redact_ns": round(redact_ns, 1),
            "repeated_ns": round(repeat_ns, 1),
            "str_replace_ns": round(base_ns, 1),
            "ratio": round(redact_ns / base_ns, 1),
        }
        ratio = redact_ns / base_ns
        print(
            f"{name:16} {redact_ns:12.0f} ns/call (repeated {repeat_ns:6.0f})"
            f"   str.replace {base_ns:9.0f} ns   x{ratio:.1f}"
        )
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
