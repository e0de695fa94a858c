"""pytest plugin: run a framework's own suite with crocotel's instrumentation on, and prove it was on.

Loaded with ``-p crocotel_plugin`` (this directory on PYTHONPATH). Two modes,
chosen by ``CROCOTEL_SUITE_MODE``:

- ``instrument``: instrument every crocotel instrumentor (the
  ``opentelemetry_instrumentor`` entry points that live in ``crocotel``) with
  an SDK tracer provider of our own, before the suite's modules are collected;
  nothing else of crocotel (no exporters, no logging) is set up.
- ``observe``: the process runs under ``opentelemetry-instrument``; only
  attach a span counter to the tracer provider crocotel's configurator built.

Either way, at the end each pytest process (the xdist controller and every
worker) writes ``$CROCOTEL_SUITE_REPORT.<pid>`` (JSON): the mode,
the wrapped targets (``crocotel.instrumentation.wraps.active_wraps``), the
instrumentors that were active, the number of spans that ended and the most
common span names; and prints a one-line summary. :func:`merge` adds up the
files of one run.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
from importlib import metadata
from typing import Any

import pytest

_MODE = os.environ.get("CROCOTEL_SUITE_MODE", "instrument")
_lock = threading.Lock()
_names: collections.Counter[str] = collections.Counter()
_instrumentors: list[Any] = []


class _Counter:
    """A span processor that counts ended spans by name (bounded: names are few)."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: Any) -> None:
        with _lock:
            _names[span.name] += 1

    def _on_ending(self, span: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _crocotel_entry_points() -> list[metadata.EntryPoint]:
    return [
        ep
        for ep in metadata.entry_points(group="opentelemetry_instrumentor")
        if ep.value.startswith("crocotel.")
    ]


def _active_instrumentors() -> list[str]:
    """Entry-point names whose instrumentor (of any distribution) was loaded and is instrumented."""
    active = []
    for ep in metadata.entry_points(group="opentelemetry_instrumentor"):
        module_name, _, attribute = ep.value.partition(":")
        module = sys.modules.get(module_name)
        cls = getattr(module, attribute, None) if module is not None else None
        instance = getattr(cls, "_instance", None)
        if instance is not None and getattr(instance, "_is_instrumented_by_opentelemetry", False):
            active.append(ep.name)
    return sorted(active)


def pytest_configure(config: pytest.Config) -> None:
    from opentelemetry import trace

    if _MODE == "instrument":
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider()
        provider.add_span_processor(_Counter())  # type: ignore[arg-type]
        for ep in _crocotel_entry_points():
            instrumentor = ep.load()()
            instrumentor.instrument(tracer_provider=provider)
            _instrumentors.append(instrumentor)
    else:
        provider = trace.get_tracer_provider()
        add = getattr(provider, "add_span_processor", None)
        if add is None:
            raise pytest.UsageError(
                f"crocotel_plugin: no SDK tracer provider ({type(provider).__name__}): "
                "is the suite running under opentelemetry-instrument with traces on?"
            )
        add(_Counter())


def _report() -> dict[str, Any]:
    from crocotel.instrumentation.wraps import active_wraps

    with _lock:
        names = dict(_names.most_common(12))
        spans = sum(_names.values())
    return {
        "mode": _MODE,
        "wraps": active_wraps(),
        "instrumentors": _active_instrumentors(),
        "spans": spans,
        "top_span_names": names,
    }


def pytest_unconfigure(config: pytest.Config) -> None:
    report = _report()
    path = os.environ.get("CROCOTEL_SUITE_REPORT")
    if path:
        # one file per process: under pytest-xdist the tests (and their spans) are in the workers
        with open(f"{path}.{os.getpid()}", "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
    print(
        f"\ncrocotel_plugin[{_MODE}]: {report['spans']} spans, instrumentors {report['instrumentors']}, "
        f"{len(report['wraps'])} wraps",
        file=sys.stderr,
    )
    for instrumentor in _instrumentors:
        if instrumentor.is_instrumented_by_opentelemetry:  # not those whose library is missing
            instrumentor.uninstrument()


def merge(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One report from the per-process ones of a run: spans added up, wraps and instrumentors joined."""
    if not reports:
        return None
    names: collections.Counter[str] = collections.Counter()
    for report in reports:
        names.update(report["top_span_names"])
    return {
        "mode": reports[0]["mode"],
        "wraps": sorted({w for r in reports for w in r["wraps"]}),
        "instrumentors": sorted({i for r in reports for i in r["instrumentors"]}),
        "spans": sum(r["spans"] for r in reports),
        "top_span_names": dict(names.most_common(12)),
        "processes": len(reports),
    }
