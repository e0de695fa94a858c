"""The statistics behind the benchmarks' verdicts: when is "crocotel adds less" shown, and where it goes."""

from __future__ import annotations

from pathlib import Path

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


def test_soak_names_the_series_that_appeared_and_ignores_changed_values() -> None:
    """The soak's verdict on /metrics: a series whose value or exemplar moved is the same series."""
    from benchmarks.bench_soak import new_series, series_of

    before = series_of(
        "# HELP telegram_api_duration_seconds Bot API calls\n"
        "# TYPE telegram_api_duration_seconds histogram\n"
        'telegram_api_duration_seconds_bucket{le="0.005",telegram_api_method="sendMessage"} 3'
        ' # {trace_id="0af7651916cd43dd8448eb211c80319c"} 0.002 1733212345.1\n'
        'telegram_api_duration_seconds_count{telegram_api_method="sendMessage"} 3\n'
    )
    after = series_of(
        'telegram_api_duration_seconds_bucket{le="0.005",telegram_api_method="sendMessage"} 9'
        ' # {trace_id="b7ad6b7169203331a0f1a1dfa4d9c0f2"} 0.001 1733212399.5\n'
        'telegram_api_duration_seconds_count{telegram_api_method="sendMessage"} 9\n'
        'telegram_api_duration_seconds_count{telegram_api_method="sendPhoto"} 1\n'
        'telegram_api_calls_total{code="429",label="a b"} 2\n'
    )
    assert len(before) == 2
    appeared = {"telegram_api_calls_total": 1, "telegram_api_duration_seconds_count": 1}
    assert new_series(before, after) == appeared


def test_soak_share_is_the_difference_of_slopes_with_both_intervals() -> None:
    from benchmarks.bench_soak import share

    bare = {"rss_slope_mb_per_hour": 11.0, "rss_slope_ci95_mb_per_hour": [10.7, 11.3]}
    grows = {"rss_slope_mb_per_hour": 20.5, "rss_slope_ci95_mb_per_hour": [20.1, 20.9]}
    level = {"rss_slope_mb_per_hour": 11.2, "rss_slope_ci95_mb_per_hour": [10.8, 11.6]}
    assert share(grows, bare, 2.0) == {
        "slope_minus_bare_mb_per_hour": 9.5,
        "slope_minus_bare_ci95_mb_per_hour": [9.0, 10.0],
        "crocotel_share_flat": False,
    }
    assert share(level, bare, 2.0)["crocotel_share_flat"] is True


def test_profile_charges_each_sample_to_the_part_that_ran_it(tmp_path: Path) -> None:
    """The bot's code run inside a crocotel wrapper is the bot's, not the wrapper's; stdlib and
    HTTP library frames go to the telemetry frame that called them; the event loop is the bot's."""
    from benchmarks.profile_bot import BOT, analyse

    site = "/venv/lib/python3.11/site-packages"
    stdlib = "/usr/lib/python3.11"
    loop = f"thread (1): MainThread;run_forever ({stdlib}/asyncio/base_events.py:607)"
    wrapper = f"feed_update ({site}/crocotel/instrumentation/_aiogram_updates.py:80)"
    stacks = {
        f"{loop};{wrapper};handler (/tmp/bots-bench-x/examples/crocbot/echo.py:12)": 40,
        f"{loop};{wrapper};start_span ({site}/crocotel/spans.py:444)": 10,
        f"{loop};{wrapper};set_attribute ({site}/opentelemetry/sdk/trace/__init__.py:870)": 10,
        f"{loop};{wrapper};handle ({site}/crocotel/logs/handler.py:77);dumps ({stdlib}/json/enc.py:1)": 5,
        f"{loop};{wrapper}": 20,
        f"{loop};select ({stdlib}/selectors.py:468)": 15,
        "thread (2): OtelBatchSpanRecordProcessor;"
        f"worker ({site}/opentelemetry/sdk/_shared_internal/__init__.py:162);"
        f"export ({site}/crocotel/exporters.py:90);urlopen ({site}/urllib3/connectionpool.py:715)": 10,
    }
    raw = tmp_path / "stacks.txt"
    raw.write_text("".join(f"{stack} {count}\n" for stack, count in stacks.items()))
    result = analyse(raw, cpu_us=1100.0)  # 110 samples: 10 us each
    assert result["by_component_us"] == {
        BOT: 550.0,
        "spans": 200.0,
        "logs": 50.0,
        "instrumentation wrappers": 200.0,
        "encoding and export": 100.0,
    }
    assert result["by_owner_us"] == {BOT: 550.0, "crocotel's code": 450.0, "OpenTelemetry's code": 100.0}
