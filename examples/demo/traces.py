"""One line per trace, for the terminal: what a newcomer would otherwise open Jaeger for.

``telegram.update message 12 ms -> echo 8 ms -> sendMessage 5 ms``: the
update span, then its descendants in start order, with their durations. HTTP
spans under a Bot API call are left out (the call already says it), and so
are spans that are not part of an update's trace (empty polls are not even
created). An outcome other than ``handled`` is shown in brackets. The same
line without durations is the trace's shape; the demo shows a few different
shapes as they come and, at the end, how often each occurred.
"""

from __future__ import annotations

from collections import defaultdict

from crocotel.testing.otlp import ReceivedSpan

__all__ = ["Summary", "TraceSummaries", "pick"]

_UPDATE = "telegram.update "
_MAX_OPEN_TRACES = 5000
_MAX_TIMES = 10_000
_HANDLER = "telegram.handler "


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _name(span: ReceivedSpan) -> str:
    name = span.name[len(_HANDLER) :] if span.name.startswith(_HANDLER) else span.name
    error = span.attributes.get("error.type")
    if error and not span.name.startswith(_UPDATE):
        name += f" [{error}]"
    return name


class Summary:
    """One update's trace: its shape (the span names in order) and the line with durations."""

    def __init__(self, update: ReceivedSpan, spans: list[ReceivedSpan]) -> None:
        children: dict[str, list[ReceivedSpan]] = defaultdict(list)
        for span in spans:
            children[span.parent_span_id].append(span)
        walked: list[ReceivedSpan] = []

        def walk(span: ReceivedSpan) -> None:
            walked.append(span)
            if "telegram.api.method" in span.attributes:
                return  # the HTTP request below a Bot API call adds nothing here
            for child in sorted(children.get(span.span_id, []), key=lambda s: s.start_time_unix_nano):
                walk(child)

        walk(update)
        names = [_name(span) for span in walked]
        outcome = update.attributes.get("telegram.update.outcome")
        if outcome and outcome != "handled":
            error = update.attributes.get("error.type")
            caught = " caught" if update.attributes.get("telegram.error.handled") else ""
            names[0] += f" [{outcome}{' ' + str(error) if error else ''}{caught}]"
        self.seconds = update.duration_seconds
        self.failed = outcome != "handled"
        self.shape = " -> ".join(names)
        self.line = " -> ".join(
            f"{name} {_ms(span.duration_seconds)}" for name, span in zip(names, walked, strict=True)
        )


class TraceSummaries:
    """Summaries of the update traces received so far, and how often each shape occurred."""

    def __init__(self) -> None:
        self._by_trace: dict[str, list[ReceivedSpan]] = defaultdict(list)
        self.outcomes: dict[str, int] = defaultdict(int)
        self.shapes: dict[str, list[float]] = defaultdict(list)
        self.traces = 0
        self.spans = 0

    def new(self, fresh: list[ReceivedSpan]) -> list[tuple[str, Summary]]:
        """(trace id, summary) of the update spans among ``fresh``, the spans that just arrived.

        Spans are exported as they end, children before their parent, so when
        an update span arrives its trace is complete.
        """
        self.spans += len(fresh)
        for span in fresh:
            self._by_trace[span.trace_id].append(span)
        while len(self._by_trace) > _MAX_OPEN_TRACES:  # traces without an update span (getMe, polls)
            del self._by_trace[next(iter(self._by_trace))]
        found = []
        for span in fresh:
            if span.name.startswith(_UPDATE):
                summary = Summary(span, self._by_trace.pop(span.trace_id, []))
                self.traces += 1
                self.outcomes[str(span.attributes.get("telegram.update.outcome", "unknown"))] += 1
                times = self.shapes[summary.shape]
                times.append(summary.seconds)
                if len(times) > _MAX_TIMES:
                    del times[: len(times) // 2]  # the median of recent ones is good enough
                found.append((span.trace_id, summary))
        return found

    def table(self, limit: int) -> list[str]:
        """The most frequent shapes with their count and median duration."""
        rows = sorted(self.shapes.items(), key=lambda item: -len(item[1]))[:limit]
        return [
            f"{len(times):5d}  {_ms(sorted(times)[len(times) // 2]):>7}  {shape}" for shape, times in rows
        ]


def pick(found: list[tuple[str, Summary]], limit: int) -> list[str]:
    """Up to ``limit`` lines of different shapes, failures first: a varied view of recent traces."""
    ordered = sorted(found, key=lambda item: not item[1].failed)
    shown: list[str] = []
    shapes: set[str] = set()
    for trace_id, summary in ordered:
        if summary.shape in shapes:
            continue
        shapes.add(summary.shape)
        shown.append(f"trace {trace_id[:8]}  {summary.line}")
        if len(shown) >= limit:
            break
    return shown
