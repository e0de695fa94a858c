"""Spans that cost less to make: the SDK's span class, built without what most spans never use.

An SDK span allocates, on top of itself and its attributes, a bounded list with a deque
and a lock for its events and another for its links, most of them empty for its whole
life, and at its end a second read-only copy of itself for the processors. A bot keeps a
few spans open per update in flight; each of those objects is one more for the garbage
collector to scan and promote, and collections come sooner. Here a span gets its event and
link lists when the first event or link is added (links given at start, such as a polled
update's link to its getUpdates call, stay a tuple), and the processors get the ended span
itself (nothing can change it once ended). Same class hierarchy, same limits, same
behaviour; only the construction differs.

The SDK's ``start_span`` is followed step for step; the lean path is used only when the
installed SDK has the shape it was written against (checked once, at import) and falls
back to the SDK's own path otherwise, and for any tracer that is not the SDK's.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import random
import sys
import threading
from collections.abc import ItemsView, Iterator, Mapping, Sequence, ValuesView
from operator import attrgetter
from time import time_ns
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace import (
    Event,
    SpanLimits,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
    Tracer,
    TracerProvider,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, StaticSampler
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import DEFAULT_TRACE_STATE
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util import types

from crocotel.code_shape import does_nothing, reads_only
from crocotel.current import current_span
from crocotel.span_context import TUPLE_LAYOUT, fields_of

__all__ = ["LeanTracerProvider"]

_logger = logging.getLogger(__name__)
_UNSET = Status(StatusCode.UNSET)
_NOTHING: tuple[Any, ...] = ()

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import _is_valid_link, _Span
else:  # private in the SDK: a release without them turns lean spans off, not crocotel
    _Span = getattr(sdk_trace, "_Span", sdk_trace.Span)
    _is_valid_link = getattr(sdk_trace, "_is_valid_link", None)

try:  # private in the SDK: without it, each span asks the tracer's self-metrics as the SDK does
    from opentelemetry.sdk.trace._tracer_metrics import NoOpTracerMetrics
except ImportError:
    NoOpTracerMetrics = None  # type: ignore[assignment, misc]

_SPAN_INIT = [
    *("self", "name", "context", "parent", "sampler", "trace_config", "resource", "attributes"),
    *("events", "links", "kind", "span_processor", "instrumentation_info", "record_exception"),
    *("set_status_on_exception", "limits", "instrumentation_scope", "record_end_metrics"),
]
_SPAN_METHODS = ("_new_events", "_new_links", "_readable_span", "_add_event", "_add_link")
_TRACER_FIELDS = (
    "sampler",
    "resource",
    "span_processor",
    "id_generator",
    "instrumentation_info",
    "_span_limits",
    "_instrumentation_scope",
    "_tracer_metrics",
    "_tracer_config",
)


_ATTRIBUTE_FIELDS = {"_dict", "maxlen", "dropped", "max_value_len", "_lock", "_immutable"}


def _attributes_supported() -> bool:
    """Whether span attributes can go without a lock of their own: the installed BoundedAttributes
    has the fields this module sets, and the interpreter has a GIL (copying a dict, which is
    what its lock guards, is then one step that no other thread can interrupt)."""
    try:
        probe = BoundedAttributes(1, {"k": "v"}, immutable=False, max_value_len=None)
    except Exception:
        return False
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    fields = set(vars(probe)) == _ATTRIBUTE_FIELDS
    return bool(gil) and fields and callable(getattr(probe, "_set_items", None))


_PLAIN_GETTERS = (
    *("name", "context", "kind", "parent", "start_time", "end_time", "status", "resource"),
    "instrumentation_scope",
)
"""The SDK's span getters that :class:`_LeanSpan` reads in C: each only returns ``self._<name>``."""


def _plain_getter(name: str) -> bool:
    """Whether the SDK's span getter ``name`` does nothing but return ``self._<name>``."""
    getter: Any = getattr(getattr(_Span, name, None), "fget", None)
    return reads_only(getter, (f"_{name}",)) and getter.__code__.co_argcount == 1


_ENABLED_READS = ("_tracer_config", "is_enabled")
"""What the SDK tracer's ``_is_enabled()`` reads, and so what ``start_span`` reads in its place."""


def _sdk_supported() -> bool:
    """Whether the installed SDK builds spans and tracers the way this module follows."""
    try:
        params = list(inspect.signature(_Span.__init__).parameters)
        tracer_params = set(inspect.signature(Tracer.__init__).parameters)
        freezes = hasattr(BoundedAttributes(1, immutable=False), "_immutable")  # read by attributes
    except (TypeError, ValueError):
        return False
    return (
        freezes
        and reads_only(getattr(Tracer, "_is_enabled", None), _ENABLED_READS)
        and all(_plain_getter(name) for name in _PLAIN_GETTERS)
        and _Span is not sdk_trace.Span
        and callable(_is_valid_link)
        and params == _SPAN_INIT
        and {"sampler", "span_processor", "id_generator", "span_limits"} <= tracer_params
        and all(
            hasattr(_Span, name) for name in ("_new_events", "_new_links", "_readable_span", "_add_event")
        )
    )


SUPPORTED = _sdk_supported()


class _SpanAttributes(BoundedAttributes):
    """A live span's attributes, without a lock of their own: the span changes them only while
    holding its own lock (the SDK's ``set_attributes``), so the second lock guarded nothing, and
    each lock is one more object for the garbage collector per span in flight."""

    _lock = contextlib.nullcontext()  # type: ignore[assignment]

    def __init__(self, maxlen: int | None, attributes: types.Attributes, max_value_len: int | None) -> None:
        if maxlen is not None and maxlen < 0:
            raise ValueError("maxlen must be valid int greater or equal to 0")
        if max_value_len is not None and max_value_len < 0:
            raise ValueError("max_value_len must be valid int greater or equal to 0")
        self._dict: dict[str, types.AnyValue] = {}
        self.maxlen = maxlen
        self.dropped = 0
        self.max_value_len = max_value_len
        self._immutable = False
        if attributes:
            self._set_items(attributes)

    def __iter__(self) -> Iterator[str]:
        """The keys; while the span is live, of a copy (one C call, which no other thread interrupts)."""
        return iter(self._dict if self._immutable else self._dict.copy())

    def items(self) -> ItemsView[str, types.AnyValue]:
        """The pairs, read straight from the dict (of a copy while the span is live): the mixin's
        view looks each key up again through ``__getitem__``, and redaction and encoding walk every
        ended span's attributes once each."""
        return (self._dict if self._immutable else self._dict.copy()).items()

    def values(self) -> ValuesView[types.AnyValue]:
        """The values, read straight from the dict (see :meth:`items`)."""
        return (self._dict if self._immutable else self._dict.copy()).values()

    def _set_items(self, attributes: Mapping[str, types.AnyValue]) -> None:
        """Set several attributes; plain values under ordinary keys, well within the limits, skip
        the SDK's cleaning, which would return them unchanged.

        Instrumentation sets a handful of strings and numbers per span, a few times per update;
        the SDK's path cleans each through a chain of type checks (about 0.8 µs per attribute).
        Here the same values land in the same order (a key set again moves to the end, as there);
        anything else (a sequence, None, bytes, an odd key, a length limit, a count that could
        reach the limit) takes the SDK's path, which cleans, truncates, drops and warns.
        """
        own = self._dict
        if (
            self._immutable
            or self.max_value_len is not None
            or (self.maxlen is not None and len(own) + len(attributes) > self.maxlen)
        ):
            super()._set_items(attributes)
            return
        for key, value in attributes.items():
            if value.__class__ not in _PLAIN_VALUES or key.__class__ is not str or not key:
                super()._set_items(attributes)
                return
        if own:  # a key set again moves to the end
            for key in attributes:
                own.pop(key, None)
        own.update(attributes)


_PLAIN_VALUES = frozenset({str, int, float, bool})
"""Attribute value types the SDK's cleaning keeps as they are (when no length limit applies)."""


def _sdk_attributes(
    maxlen: int | None, attributes: types.Attributes, max_value_len: int | None
) -> BoundedAttributes:
    """A live span's attributes as the SDK makes them (its own lock included)."""
    return BoundedAttributes(maxlen, attributes, immutable=False, max_value_len=max_value_len)


_new_attributes: Any = _SpanAttributes if _attributes_supported() else _sdk_attributes


class _LeanSpan(_Span):
    """An SDK span whose event and link lists are made on first use and which ends without a copy."""

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        tracer: Tracer,
        attributes: types.Attributes,
        kind: SpanKind,
        record_exception: bool,
        set_status_on_exception: bool,
        record_end_metrics: Any,
        hooks: _Hooks | None,
    ) -> None:
        limits = tracer._span_limits
        self._name = name
        self._context = context
        self._kind = kind
        self._instrumentation_info = tracer.instrumentation_info
        self._instrumentation_scope = tracer._instrumentation_scope
        self._parent = parent
        self._start_time = None
        self._end_time = None
        self._resource = tracer.resource
        self._status = _UNSET
        self._sampler = tracer.sampler
        self._trace_config = None
        self._record_exception = record_exception
        self._set_status_on_exception = set_status_on_exception
        self._span_processor = tracer.span_processor
        self._limits = limits
        self._lock = threading.Lock()
        self._attributes = _new_attributes(
            limits.max_span_attributes, attributes, limits.max_span_attribute_length
        )
        self._events: Any = _NOTHING
        self._links: Any = _NOTHING
        self._record_end_metrics = record_end_metrics
        self._hooks = hooks

    # The SDK's ``ReadableSpan`` getters, each ``return self._field``, as properties over C
    # getters: the same values without a Python frame per read. Processors read a dozen of them
    # per ended span (redaction and encoding read several twice), about 30 calls per span.
    name = property(attrgetter("_name"))
    context = property(attrgetter("_context"))
    kind = property(attrgetter("_kind"))
    parent = property(attrgetter("_parent"))
    start_time = property(attrgetter("_start_time"))
    end_time = property(attrgetter("_end_time"))
    status = property(attrgetter("_status"))
    resource = property(attrgetter("_resource"))
    instrumentation_scope = property(attrgetter("_instrumentation_scope"))
    dropped_attributes = property(attrgetter("_attributes.dropped"))
    """As the SDK's, without its abstract-class check (the attributes are always bounded here)."""

    def get_span_context(self) -> SpanContext:
        """As the SDK's, without its ``typing.cast`` call (a Python call per read): every span start,
        exemplar and log record asks the current span for its context."""
        return self._context  # type: ignore[return-value]  # set at construction, never None

    @property
    def attributes(self) -> types.Attributes:
        """As the SDK's while the span is live (a read-only view); once ended, the attributes
        themselves, which refuse every change from then on: no view to build per read, and no
        Python ``__len__`` call to decide between them and an empty dict."""
        attributes: Any = self._attributes
        return attributes if attributes._immutable else MappingProxyType(attributes)

    @property
    def dropped_events(self) -> int:
        """As the SDK's; no list yet (a tuple) has dropped nothing."""
        return _dropped(self._events)

    @property
    def dropped_links(self) -> int:
        """As the SDK's; links kept from start as a tuple have dropped nothing."""
        return _dropped(self._links)

    def _add_event(self, event: Event) -> None:
        self._append("_events", self._limits.max_events, event, "_add_event")

    def _add_link(self, link: Link) -> None:
        self._append("_links", self._limits.max_links, link, "_add_link")

    def _append(self, field: str, limit: int | None, item: Any, caller: str) -> None:
        """Add an event or link, making the bounded list on the first one (keeping links from start)."""
        with self._lock:
            if self._end_time is None:
                items = getattr(self, field)
                if not isinstance(items, BoundedList):
                    items = BoundedList.from_seq(limit, items)
                    setattr(self, field, items)
                items.append(item)
                return
        _logger.warning("Tried calling %s on an ended span.", caller)

    def end(self, end_time: int | None = None) -> None:
        """End the span and hand it to the processors as it is: once ended it no longer changes."""
        with self._lock:
            if self._start_time is None:
                raise RuntimeError("Calling end() on a not started span.")
            if self._end_time is not None:
                _logger.warning("Calling end() on an ended span.")
                return
            self._end_time = end_time if end_time is not None else time_ns()
            self._attributes._immutable = True  # type: ignore[union-attr]
        if self._record_end_metrics is not None:
            self._record_end_metrics()
        processor: Any = self._span_processor
        hooks = self._hooks
        if hooks is not None and hooks.processors is processor._span_processors:
            for each in hooks.endings:
                each._on_ending(self)
            for each in hooks.processors:
                each.on_end(self)
            return
        processor._on_ending(self)
        processor.on_end(self)


def _dropped(items: Any) -> int:
    """Items a span's event or link list dropped (its ``dropped`` count when it is a bounded list)."""
    if items.__class__ is tuple:
        return 0
    return items.dropped if isinstance(items, BoundedList) else 0


def _start_links(links: Sequence[Link], limits: SpanLimits) -> Sequence[Link]:
    """A span's links at start, as the SDK keeps them: invalid ones left out, attributes frozen
    and bounded; a plain tuple unless the limit drops some (a polled update has one link)."""
    valid = []
    for link in links:
        if link and _is_valid_link(link.context, link.attributes):
            if link.attributes:  # None stays None: exported the same as an empty set
                link._attributes = BoundedAttributes(
                    limits.max_link_attributes,
                    link.attributes,
                    max_value_len=limits.max_attribute_length,
                    immutable=True,
                )
            valid.append(link)
    if limits.max_links is not None and len(valid) > limits.max_links:
        return BoundedList.from_seq(limits.max_links, valid)
    return tuple(valid)


_FLAGS = tuple(TraceFlags(value) for value in range(256))
"""One shared instance per value: the SDK makes a new one per span, an object more for the collector."""


def static_decisions(sampler: Sampler) -> tuple[Decision, ...] | None:
    """For a ``ParentBased`` sampler whose five delegates each always answer the same (the SDK's
    default, ``parentbased_always_on``, and ``parentbased_always_off``): its decisions for a root
    span, then a remote parent sampled / not sampled, then a local parent sampled / not sampled.
    None for any other sampler, which is asked for every span."""
    if type(sampler) is not ParentBased:
        return None
    delegates = [
        getattr(sampler, name, None)
        for name in (
            "_root",
            "_remote_parent_sampled",
            "_remote_parent_not_sampled",
            "_local_parent_sampled",
            "_local_parent_not_sampled",
        )
    ]
    decisions = [getattr(d, "_decision", None) if type(d) is StaticSampler else None for d in delegates]
    if not all(isinstance(decision, Decision) for decision in decisions):
        return None
    return tuple(decisions)  # type: ignore[arg-type]


class _Hooks:
    """Which processors a ``SynchronousMultiSpanProcessor`` would call for a span, called without
    the multi-processor's own frame and leaving out hooks that do nothing (``on_start`` and
    ``_on_ending`` of the batch processors and crocotel's): five Python calls fewer per span.
    Valid while the provider holds the same tuple of processors (it makes a new one when a
    processor is added)."""

    __slots__ = ("endings", "processors", "starts")

    def __init__(self, processors: tuple[SpanProcessor, ...]) -> None:
        self.processors = processors
        self.starts = tuple(p for p in processors if not _quiet(p, "on_start"))
        self.endings = tuple(p for p in processors if not _quiet(p, "_on_ending"))


def _quiet(processor: SpanProcessor, hook: str) -> bool:
    """Whether ``processor``'s ``hook`` does nothing: its class's method only returns None, and the
    processor has no method of that name of its own (patched onto it, say)."""
    own = getattr(processor, "__dict__", {})
    return hook not in own and does_nothing(getattr(type(processor), hook, None))


_getrandbits = random.getrandbits  # what the SDK's RandomIdGenerator draws from (the same generator)
_tuple_new = tuple.__new__
_object_new = object.__new__
_MAX_TRACE_ID = (1 << 128) - 1
_MAX_SPAN_ID = (1 << 64) - 1


class _LeanTracer(Tracer):
    """The SDK tracer, making :class:`_LeanSpan` for every recording span.

    With a sampler that :func:`static_decisions` can read, the sampling decision is taken here:
    asking the sampler looks the parent span up twice more and builds a result object per span.
    """

    _static_decisions: tuple[Decision, ...] | None = None
    _random_ids = False
    """The SDK's ``RandomIdGenerator``: ids drawn here, as it draws them, without its two calls."""
    _quiet_metrics = False
    """The SDK's self-metrics are off: no call to start and end each span's count."""
    _hooks: _Hooks | None = None
    """The processors' hooks (:class:`_Hooks`), set when the tracer is made; None when its
    processor is not the SDK's synchronous multi-processor: each span then calls it as the SDK does."""

    def start_span(
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace_api.Span:
        """Start a span as the SDK does, only cheaper to build."""
        if not self._tracer_config.is_enabled:  # what the SDK's _is_enabled() reads
            return super().start_span(
                name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
            )
        links = links or ()
        parent: SpanContext | None = current_span(context).get_span_context()
        if parent is not None and not isinstance(parent, SpanContext):
            raise TypeError("parent_span_context must be a SpanContext or None.")
        if parent is not None:
            trace_id, _, remote, parent_flags, parent_state, valid = fields_of(parent)
        if parent is None or not valid:
            parent = None
            if self._random_ids:
                trace_id = _getrandbits(128) or self.id_generator.generate_trace_id()  # 0 is invalid
                random_trace_id = True
            else:
                trace_id = self.id_generator.generate_trace_id()
                random_trace_id = self.id_generator.is_trace_id_random()
        else:
            random_trace_id = bool(parent_flags & TraceFlags.RANDOM_TRACE_ID)
        decisions = self._static_decisions
        if decisions is not None:  # what that sampler would answer, without asking it
            if parent is None:
                decision, trace_state = decisions[0], None
            else:
                sampled = parent_flags & TraceFlags.SAMPLED
                decision = decisions[(2 if remote else 4) - sampled]
                trace_state = parent_state
        else:
            result = self.sampler.should_sample(context, trace_id, name, kind, attributes, links)
            decision, attributes, trace_state = result.decision, result.attributes, result.trace_state
        flags = TraceFlags.SAMPLED if decision is Decision.RECORD_AND_SAMPLE else TraceFlags.DEFAULT
        if random_trace_id:
            flags |= TraceFlags.RANDOM_TRACE_ID
        span_id = (_getrandbits(64) if self._random_ids else 0) or self.id_generator.generate_span_id()
        if TUPLE_LAYOUT:  # the tuple SpanContext() builds, without its Python __new__
            span_context: SpanContext = _tuple_new(
                SpanContext,
                (
                    trace_id,
                    span_id,
                    False,
                    _FLAGS[flags],
                    DEFAULT_TRACE_STATE if trace_state is None else trace_state,
                    0 < trace_id <= _MAX_TRACE_ID and 0 < span_id <= _MAX_SPAN_ID,
                ),
            )
        else:
            span_context = SpanContext(
                trace_id, span_id, is_remote=False, trace_flags=_FLAGS[flags], trace_state=trace_state
            )
        record_end_metrics = (
            None if self._quiet_metrics else self._tracer_metrics.start_span(parent, decision)
        )
        if decision is Decision.DROP:
            return trace_api.NonRecordingSpan(context=span_context)
        hooks = self._hooks
        processor = self.span_processor
        if hooks is not None and hooks.processors is not processor._span_processors:
            hooks = self._rehook(processor)  # a processor was added: the provider made a new tuple
        span: _LeanSpan = _object_new(_LeanSpan)  # the SDK's Span.__new__ only refuses its own class
        span.__init__(  # type: ignore[misc]
            name,
            span_context,
            parent,
            self,
            attributes,
            kind,
            record_exception,
            set_status_on_exception,
            record_end_metrics,
            hooks,
        )
        if links:
            span._links = _start_links(links, self._span_limits)
        span._start_time = start_time if start_time is not None else time_ns()
        if hooks is None:
            processor.on_start(span, parent_context=context)
        else:
            for each in hooks.starts:
                each.on_start(span, parent_context=context)
        return span

    def _rehook(self, processor: Any) -> _Hooks | None:
        """The hooks of ``processor``'s current processors (None for another kind of processor)."""
        processors = getattr(processor, "_span_processors", None)
        multi = type(processor) is SynchronousMultiSpanProcessor and type(processors) is tuple
        hooks = _Hooks(processors) if multi else None  # type: ignore[arg-type]
        self._hooks = hooks
        return hooks


class LeanTracerProvider(TracerProvider):
    """The SDK's tracer provider whose tracers make lean spans (when the installed SDK allows it)."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> trace_api.Tracer:
        """The SDK's tracer for this scope, set to make lean spans."""
        tracer = super().get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )
        if SUPPORTED and type(tracer) is Tracer and all(hasattr(tracer, name) for name in _TRACER_FIELDS):
            tracer.__class__ = _LeanTracer  # same fields, one method more: the provider keeps this object
            lean: Any = tracer
            lean._static_decisions = static_decisions(tracer.sampler)
            lean._random_ids = type(tracer.id_generator) is RandomIdGenerator
            lean._quiet_metrics = type(lean._tracer_metrics) is NoOpTracerMetrics
            lean._rehook(tracer.span_processor)
        return tracer
