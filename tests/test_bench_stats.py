"""The statistics behind the overhead benchmark's verdict: when is "crocotel adds less" shown."""

from __future__ import annotations

from benchmarks.bench_bot_overhead import median_interval, sign_test


def test_six_rounds_give_the_range_as_the_median_interval() -> None:
    interval = median_interval([0.9, 0.82, 1.3, 0.92, 0.97, 0.69])
    assert (interval["low"], interval["high"]) == (0.69, 1.3)
    assert interval["coverage"] == 0.969  # 1 - 2 / 64


def test_twenty_rounds_give_the_sixth_lowest_and_highest() -> None:
    """The textbook 95% interval for a median of 20: ranks 6 and 15 (coverage 95.9%)."""
    interval = median_interval([float(v) for v in range(20, 0, -1)])
    assert (interval["low"], interval["high"], interval["coverage"]) == (6.0, 15.0, 0.959)


def test_too_few_rounds_say_how_little_they_cover() -> None:
    interval = median_interval([1.0, 0.5, 2.0])
    assert (interval["low"], interval["high"]) == (0.5, 2.0) and interval["coverage"] == 0.75


def test_sign_test_counts_rounds_below_stock() -> None:
    assert sign_test([0.9, 0.8, 0.7, 0.95, 0.6, 0.99]) == {"rounds_below_1": 6, "rounds": 6, "p": 0.0156}
    assert sign_test([1.1, 0.9]) == {"rounds_below_1": 1, "rounds": 2, "p": 0.75}
    assert sign_test([1.0, 1.2])["p"] == 1.0  # level is not below
