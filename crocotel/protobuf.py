"""OTLP request bodies (protobuf wire format) written straight from SDK spans and log records.

The SDK's encoders build a tree of protobuf message objects for every span and log record
and then serialise it: in a profile of crocbot that was two thirds of the span export
thread, about 50 µs per span. Here the bytes are written directly, and the encoded form of
each attribute (``KeyValue``), scope and resource is remembered, because a bot sends the
same few methods, URLs, outcomes and handler names over and over; only ids, timestamps and
the odd unique value are written anew. The output decodes to the same messages as the
SDK's (tests/test_protobuf.py compares them field by field).

Wire format reference: https://protobuf.dev/programming-guides/encoding/ ; message layout:
opentelemetry-proto ``trace/v1/trace.proto``, ``logs/v1/logs.proto``, ``common/v1/common.proto``.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeAlias

from opentelemetry.trace import SpanKind

from crocotel.span_context import IS_REMOTE, SPAN_ID, TRACE_ID, fields_of

__all__ = ["Encoded", "LogEncoder", "Redacting", "SpanEncoder", "encode_logs", "encode_spans"]

_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack
_FIXED32 = struct.Struct("<I").pack
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1

_ONE_BYTE = [bytes((n,)) for n in range(128)]


def _varint(n: int) -> bytes:
    if 0 <= n < 128:
        return _ONE_BYTE[n]
    if 0 < n < 16384:  # the length of nearly every span, attribute and log record
        return bytes((n & 0x7F | 0x80, n >> 7))
    if n < 0:  # int64 on the wire: two's complement in ten bytes
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload's length, the payload."""
    size = len(payload)
    return tag + (_ONE_BYTE[size] if size < 128 else _varint(size)) + payload


# Tags (field number << 3 | wire type), by message.
_ANY_STRING, _ANY_BOOL, _ANY_INT, _ANY_DOUBLE = b"\x0a", b"\x10", b"\x18", b"\x21"
_ANY_ARRAY, _ANY_KVLIST, _ANY_BYTES = b"\x2a", b"\x32", b"\x3a"
_KV_KEY, _KV_VALUE = b"\x0a", b"\x12"
_LIST_VALUE = b"\x0a"  # ArrayValue.values, KeyValueList.values

_MAX_REMEMBERED = 8192


Encoded: TypeAlias = tuple[Any, ...]
"""A span or log record already written as its message, queued in place of the SDK's object
from the moment it ended (:mod:`crocotel.processors`): ``(payload, pair)``, where ``pair``
numbers the resource and scope its batch groups it by in the encoder that wrote it
(:meth:`_Encoder.queued`), or ``(payload, resource, scope)`` past that encoder's count of pairs.

A plain tuple of bytes and an int: the garbage collector stops tracking it at its first
collection, so a queue of them (up to five seconds of spans and records) is never promoted,
scanned again or counted towards the next full collection, as the SDK's objects (attributes,
events, links, locks, span contexts) were."""

_MAX_PAIRS = 1024
_MAX_NAMES = 1024


def _remember(cache: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """Keep ``value`` under ``key``, emptying ``cache`` first when it holds ``limit`` entries: each
    cache here holds what repeats, and a stream of values that never do must not fill the memory."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


class _Unencodable(Exception):
    """A value OTLP has no representation for (the SDK's encoder skips such attributes too)."""


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` message (without its own tag)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return _ANY_BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _field(_ANY_STRING, value.encode("utf-8"))
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _Unencodable("integer out of int64 range")
        return _ANY_INT + _varint(value)
    if isinstance(value, float):
        return _ANY_DOUBLE + _DOUBLE(value)
    if isinstance(value, bytes):
        return _field(_ANY_BYTES, value)
    if isinstance(value, Sequence):
        return _field(_ANY_ARRAY, b"".join([_field(_LIST_VALUE, _any_value(v)) for v in value]))
    if isinstance(value, Mapping):
        pairs = [_field(_LIST_VALUE, _key_value(str(k), v)) for k, v in value.items()]
        return _field(_ANY_KVLIST, b"".join(pairs))
    raise _Unencodable(type(value).__name__)


def _key_value(key: str, value: Any) -> bytes:
    """A ``KeyValue`` message (without its own tag)."""
    head = _field(_KV_KEY, key.encode("utf-8")) if key else b""
    return head + _field(_KV_VALUE, _any_value(value))


_SCALARS = (str, int, float, bool)
_REPEATING_IDS = frozenset({"telegram.bot.id"})
"""Identifiers that do repeat: a process runs one bot, or a few (on every update and call span)."""
_MAX_REMEMBERED_TEXT = 256


def _repeats(key: str, kind: type, value: Any) -> bool:
    """Whether a scalar is the kind of value that comes again: a short text, a small number, a
    flag, the bot's id; not another identifier (a key ending in ``.id``: an update id is small on
    a new bot or a test server, and never repeats), a timestamp or a stack trace, which would
    fill the memory."""
    if key.endswith(".id"):
        return key in _REPEATING_IDS and kind is int
    if kind is str:
        return len(value) <= _MAX_REMEMBERED_TEXT
    if kind is int:
        return bool(-1024 <= value <= 65535)  # status codes, ports, counts
    return kind is bool


class Redacting(Protocol):
    """What the encoder needs of a redaction engine (:class:`crocotel.redaction.engine.Redactor`)."""

    generation: int
    """Changes whenever values found clean may no longer be (a phone number was learnt)."""

    def attribute(self, key: str, value: Any, signal: str) -> Any:
        """``value`` redacted under ``key``; ``value`` itself when clean."""

    def text(self, value: str, signal: str) -> str:
        """``value`` redacted; ``value`` itself when clean."""


class _Attributes:
    """Encodes attribute maps as repeated ``KeyValue`` fields, remembering scalar pairs.

    With a redaction engine, each value is redacted as it is encoded and only pairs it left
    unchanged are remembered, so a remembered pair is one dict lookup for both jobs (see
    :meth:`SpanEncoder.redact_with`).
    """

    def __init__(self, redactor: Redacting | None = None, signal: str = "") -> None:
        self._known: dict[tuple[str, type, Any], bytes] = {}
        self._redactor = redactor
        self._signal = signal

    def encode(self, tag: bytes, attributes: Mapping[str, Any] | None) -> list[bytes]:
        """Each attribute as a ``tag``-ged field; values OTLP cannot carry are left out."""
        if attributes is None:  # not ``not attributes``: a span's attributes count themselves in Python
            return []
        known = self._known
        redactor = self._redactor
        out = []
        for key, value in attributes.items():
            kind = value.__class__
            remembered = False
            if kind in _SCALARS:
                # the class is part of the key: True == 1 == 1.0 must not share an encoding
                cache_key = (key, kind, value)
                encoded = known.get(cache_key)
                if encoded is not None:
                    out.append(encoded)
                    continue
                remembered = _repeats(key, kind, value)
            if redactor is not None:
                redacted = redactor.attribute(key, value, self._signal)
                remembered = remembered and redacted is value
                value = redacted
            try:
                encoded = _field(tag, _key_value(key, value))
            except (_Unencodable, TypeError, ValueError, RecursionError):
                continue
            if remembered:  # into the dict read above: one replaced meanwhile is no longer read
                _remember(known, cache_key, encoded, _MAX_REMEMBERED)
            out.append(encoded)
        return out


class _Encoder:
    """What both signals share: attributes, and the resource and scope messages, remembered."""

    def __init__(self) -> None:
        self.attributes = _Attributes()
        self._resources: dict[int, tuple[object, bytes]] = {}
        self._scopes: dict[int, tuple[object, bytes]] = {}
        self._pairs: list[tuple[Any, Any]] = []
        self._pair_numbers: dict[tuple[int, int], tuple[Any, Any, int]] = {}
        self._pairing = threading.Lock()

    def queued(self, resource: Any, scope: Any, payload: bytes) -> Encoded:
        """``payload`` in its queued form, its resource and scope as a number (see :data:`Encoded`)."""
        key = (id(resource), id(scope))
        known = self._pair_numbers.get(key)
        if known is not None and known[0] is resource and known[1] is scope:
            return (payload, known[2])
        with self._pairing:  # the first item of a pair, from whichever thread ended it
            known = self._pair_numbers.get(key)
            if known is not None and known[0] is resource and known[1] is scope:
                return (payload, known[2])  # another thread numbered it meanwhile
            pairs = self._pairs
            if len(pairs) >= _MAX_PAIRS:
                return (payload, resource, scope)
            self.resource(resource)  # written here, on the thread that ended the item: export
            self.scope(scope)  # threads then only look them up (and a redacting encoder never redacts there)
            pairs.append((resource, scope))  # never removed: queued items keep their number
            self._pair_numbers[key] = (resource, scope, len(pairs) - 1)
            return (payload, len(pairs) - 1)

    def unqueued(self, item: Encoded) -> tuple[Any, Any, bytes]:
        """(resource, scope, payload) of a queued item."""
        if len(item) == 2:
            resource, scope = self._pairs[item[1]]
            return resource, scope, item[0]
        return item[1], item[2], item[0]

    def resource(self, resource: Any) -> bytes:
        """A ``Resource`` message for the SDK resource (``attributes``, field 1)."""
        known = self._resources.get(id(resource))
        if known is not None and known[0] is resource:
            return known[1]
        encoded = b"".join(self.attributes.encode(b"\x0a", resource.attributes))
        _remember(self._resources, id(resource), (resource, encoded), 64)  # held: the id stays its own
        return encoded

    def scope(self, scope: Any) -> bytes:
        """An ``InstrumentationScope`` message (empty for a record without one)."""
        if scope is None:
            return b""
        known = self._scopes.get(id(scope))
        if known is not None and known[0] is scope:
            return known[1]
        parts = []
        if scope.name:
            parts.append(_field(b"\x0a", scope.name.encode("utf-8")))
        if scope.version:
            parts.append(_field(b"\x12", scope.version.encode("utf-8")))
        parts.extend(self.attributes.encode(b"\x1a", getattr(scope, "attributes", None)))
        encoded = b"".join(parts)
        _remember(self._scopes, id(scope), (scope, encoded), 1024)
        return encoded

    def request(self, items: Sequence[Any], encode_item: Any, item_tag: bytes) -> bytes:
        """An export request: items grouped by resource, then scope, in the order first seen.

        ``ResourceSpans``/``ResourceLogs`` and ``ScopeSpans``/``ScopeLogs`` share their layout:
        1 resource or scope, 2 the repeated children, 3 schema_url.
        """
        # by resource object (the SDK's Resource hashes by serialising all its attributes), then
        # by scope value (name, version, schema_url: tracers made twice for one library share it)
        groups: dict[int, tuple[Any, dict[Any, list[bytes]]]] = {}
        for item in items:
            resource, scope, encoded = encode_item(item)
            group = groups.get(id(resource))
            if group is None:
                group = groups[id(resource)] = (resource, {})
            children = group[1].get(scope)
            if children is None:
                children = group[1][scope] = []
            children.append(_field(item_tag, encoded))
        out = []
        for resource, by_scope in groups.values():
            parts = [_field(b"\x0a", self.resource(resource))]
            for scope, children in by_scope.items():
                scoped = [_field(b"\x0a", self.scope(scope)), *children]
                schema = scope.schema_url if scope is not None else None
                if schema:
                    scoped.append(_field(b"\x1a", schema.encode("utf-8")))
                parts.append(_field(b"\x12", b"".join(scoped)))
            if resource.schema_url:
                parts.append(_field(b"\x1a", resource.schema_url.encode("utf-8")))
            out.append(_field(b"\x0a", b"".join(parts)))
        return b"".join(out)


def _ids(context: Any) -> bytes:
    """Fields 1 and 2 of a Span or Link: the trace id (16 bytes) and span id (8 bytes)."""
    ids = fields_of(context)
    trace_id, span_id = ids[TRACE_ID], ids[SPAN_ID]
    return b"\x0a\x10" + trace_id.to_bytes(16, "big") + b"\x12\x08" + span_id.to_bytes(8, "big")


# Span: 1 trace_id, 2 span_id, 3 trace_state, 4 parent_span_id, 5 name, 6 kind, 7 start (fixed64),
# 8 end (fixed64), 9 attributes, 10 dropped attributes, 11 events, 12 dropped events, 13 links,
# 14 dropped links, 15 status, 16 flags (fixed32).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_FLAGS_LOCAL = b"\x85\x01" + _FIXED32(_HAS_IS_REMOTE)
_FLAGS_REMOTE = b"\x85\x01" + _FIXED32(_HAS_IS_REMOTE | _IS_REMOTE)
_KINDS = {k: b"\x30" + _varint(k + 1) for k in range(5)}  # API SpanKind.value + 1 = proto SpanKind
_KINDS_BY_ID = {id(kind): _KINDS[kind.value] for kind in SpanKind if kind.value in _KINDS}
"""The same by member identity: an enum's ``.value`` and ``__hash__`` are Python calls."""


class SpanEncoder(_Encoder):
    """``ExportTraceServiceRequest`` bodies for batches of ``ReadableSpan``."""

    def __init__(self) -> None:
        super().__init__()
        self._redactor: Redacting | None = None
        self._signal = ""
        self._generation = 0
        self._forget()

    def redact_with(self, redactor: Redacting, signal: str) -> None:
        """From now on, redact every text written from a span with ``redactor``, as it is written.

        Span names, attribute values (of spans, events, links and resources), status messages
        and event names: what a redacted copy of the span would hold, without making the copy
        or walking the span twice. Only what the engine leaves unchanged is remembered, and
        the pairs, names and statuses remembered are forgotten when the engine's
        ``generation`` changes (a phone number learnt can make a remembered text dirty); a
        resource is written once, when its first span is queued.
        """
        self._redactor = redactor
        self._signal = signal
        self._forget()

    def _forget(self) -> None:
        """Start the memories of pairs, names and statuses afresh (see :meth:`redact_with`)."""
        redactor = self._redactor
        self._generation = redactor.generation if redactor is not None else 0
        self.attributes = _Attributes(redactor, self._signal)
        self._statuses: dict[tuple[int, str | None], bytes] = {}
        self._last_status: tuple[object, bytes] = (None, b"")
        self._names: dict[str, bytes] = {}

    def _text(self, value: str) -> str:
        """``value`` as written: redacted when the encoder redacts."""
        redactor = self._redactor
        return value if redactor is None else redactor.text(value, self._signal)

    def _name(self, name: str) -> bytes:
        """Field 5, the span's name: remembered, as a bot names its spans from a short list."""
        known = self._names.get(name)
        if known is None:
            written = self._text(name)
            known = _field(b"\x2a", written.encode("utf-8"))
            if written is name and len(name) <= _MAX_REMEMBERED_TEXT:
                _remember(self._names, name, known, _MAX_NAMES)
        return known

    def encode(self, spans: Sequence[Any]) -> bytes:
        """The serialised request for ``spans`` (``ReadableSpan`` or :class:`Encoded`)."""
        return self.request(spans, self._any, b"\x12")

    def item(self, span: Any) -> Encoded:
        """``span`` written now, to be sent with a later batch."""
        return self.queued(*self._span(span))

    def _any(self, span: Any) -> tuple[Any, Any, bytes]:
        return self.unqueued(span) if span.__class__ is tuple else self._span(span)

    def _span(self, span: Any) -> tuple[Any, Any, bytes]:
        redactor = self._redactor
        if redactor is not None and redactor.generation != self._generation:
            self._forget()
        context = span.context
        parts = [_ids(context)]
        state = context.trace_state
        if state:
            parts.append(_field(b"\x1a", ",".join(f"{k}={v}" for k, v in state.items()).encode("utf-8")))
        parent = span.parent
        remote = False
        if parent is not None:
            ids = fields_of(parent)
            parent_id, remote = ids[SPAN_ID], ids[IS_REMOTE]
            parts.append(b"\x22\x08" + parent_id.to_bytes(8, "big"))
        name = span.name
        if name:
            parts.append(self._name(name))
        kind = span.kind
        parts.append(_KINDS_BY_ID.get(id(kind)) or _KINDS[kind.value])
        if span.start_time:
            parts.append(b"\x39" + _FIXED64(span.start_time))
        if span.end_time:
            parts.append(b"\x41" + _FIXED64(span.end_time))
        attributes = self.attributes
        parts.extend(attributes.encode(b"\x4a", span.attributes))
        dropped = span.dropped_attributes
        if dropped:
            parts.append(b"\x50" + _varint(dropped))
        for event in span.events:
            parts.append(_field(b"\x5a", self._event(event)))
        dropped = span.dropped_events
        if dropped:
            parts.append(b"\x60" + _varint(dropped))
        for link in span.links:
            parts.append(_field(b"\x6a", self._link(link)))
        dropped = span.dropped_links
        if dropped:
            parts.append(b"\x70" + _varint(dropped))
        parts.append(self._status(span.status))
        parts.append(_FLAGS_REMOTE if remote else _FLAGS_LOCAL)
        return span.resource, span.instrumentation_scope or None, b"".join(parts)

    def _event(self, event: Any) -> bytes:
        # Event: 1 time (fixed64), 2 name, 3 attributes, 4 dropped attributes
        parts = [b"\x09" + _FIXED64(event.timestamp)] if event.timestamp else []
        if event.name:
            parts.append(_field(b"\x12", self._text(event.name).encode("utf-8")))
        parts.extend(self.attributes.encode(b"\x1a", event.attributes))
        dropped = getattr(event, "dropped_attributes", 0)
        if dropped:
            parts.append(b"\x20" + _varint(dropped))
        return b"".join(parts)

    def _link(self, link: Any) -> bytes:
        # Link: 1 trace_id, 2 span_id, 4 attributes, 5 dropped attributes, 6 flags (fixed32)
        context = link.context
        parts = [_ids(context)]
        parts.extend(self.attributes.encode(b"\x22", link.attributes))
        dropped = link.dropped_attributes
        if dropped:
            parts.append(b"\x28" + _varint(dropped))
        flags = _HAS_IS_REMOTE | (_IS_REMOTE if context.is_remote else 0)
        parts.append(b"\x35" + _FIXED32(flags))
        return b"".join(parts)

    def _status(self, status: Any) -> bytes:
        # Status (field 15 of Span): 2 message, 3 code
        last = self._last_status
        if last[0] is status:  # most spans share one Status object (unset); statuses never change
            return last[1]
        key = (status.status_code.value, status.description)
        known = self._statuses.get(key)
        if known is None:
            code, message = key
            written = self._text(message) if message else message
            body = (_field(b"\x12", written.encode("utf-8")) if written else b"") + (
                b"\x18" + _varint(code) if code else b""
            )
            known = _field(b"\x7a", body)
            if written is message:
                _remember(self._statuses, key, known, 256)
        self._last_status = (status, known)  # this status object, written as it is now
        return known


# LogRecord: 1 time (fixed64), 2 severity_number, 3 severity_text, 5 body, 6 attributes,
# 7 dropped attributes, 8 flags (fixed32), 9 trace_id, 10 span_id, 11 observed time (fixed64),
# 12 event_name.
class LogEncoder(_Encoder):
    """``ExportLogsServiceRequest`` bodies for batches of ``ReadableLogRecord``."""

    def __init__(self) -> None:
        super().__init__()
        self._severities: dict[tuple[int, str | None], tuple[object, bytes]] = {}

    def encode(self, records: Sequence[Any]) -> bytes:
        """The serialised request for ``records`` (``ReadableLogRecord`` or :class:`Encoded`)."""
        return self.request(records, self._any, b"\x12")

    def item(self, record: Any) -> Encoded:
        """``record`` written now, to be sent with a later batch."""
        return self.queued(*self._record(record))

    def _any(self, record: Any) -> tuple[Any, Any, bytes]:
        return self.unqueued(record) if record.__class__ is tuple else self._record(record)

    def _record(self, readable: Any) -> tuple[Any, Any, bytes]:
        record = readable.log_record
        parts = []
        if record.timestamp:
            parts.append(b"\x09" + _FIXED64(record.timestamp))
        number, text = record.severity_number, record.severity_text
        key = (id(number), text)
        known = self._severities.get(key)
        if known is not None and known[0] is number:
            parts.append(known[1])
        else:  # a handful of levels: an enum's value is two Python calls per read
            value = getattr(number, "value", None)
            severity = (b"\x10" + _varint(value) if value else b"") + (
                _field(b"\x1a", text.encode("utf-8")) if text else b""
            )
            _remember(self._severities, key, (number, severity), 256)  # held: its id stays its own
            parts.append(severity)
        try:
            body = _any_value(record.body)
        except (_Unencodable, TypeError, ValueError, RecursionError):
            body = b""  # no text of an object OTLP cannot carry: it was never redacted as text
        parts.append(_field(b"\x2a", body))
        parts.extend(self.attributes.encode(b"\x32", record.attributes))
        dropped = readable.dropped_attributes
        if dropped:
            parts.append(b"\x38" + _varint(dropped))
        flags = int(record.trace_flags or 0)
        if flags:
            parts.append(b"\x45" + _FIXED32(flags))
        if record.trace_id:
            parts.append(b"\x4a\x10" + record.trace_id.to_bytes(16, "big"))
        if record.span_id:
            parts.append(b"\x52\x08" + record.span_id.to_bytes(8, "big"))
        if record.observed_timestamp:
            parts.append(b"\x59" + _FIXED64(record.observed_timestamp))
        if record.event_name:
            parts.append(_field(b"\x62", record.event_name.encode("utf-8")))
        return readable.resource, readable.instrumentation_scope or None, b"".join(parts)


def encode_spans(spans: Sequence[Any]) -> bytes:
    """One ``ExportTraceServiceRequest`` for ``spans`` (a fresh encoder; exporters keep theirs)."""
    return SpanEncoder().encode(spans)


def encode_logs(records: Sequence[Any]) -> bytes:
    """One ``ExportLogsServiceRequest`` for ``records`` (a fresh encoder; exporters keep theirs)."""
    return LogEncoder().encode(records)
