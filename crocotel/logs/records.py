"""Every log record made safe once, before any handler sees it: redacted, with trace ids.

crocotel wraps ``logging.Logger.callHandlers``, the one method every record passes through on
its way to handlers, whoever added them (``basicConfig`` with any format, ``dictConfig``,
other libraries, pytest's caplog). There each record is prepared once, in the logging call's
thread and context:

- the message with its arguments, ``stack_info`` and the ``extra`` fields are redacted in
  place (values under secret or phone keys are replaced whole); values with nothing to redact
  are left as the same objects, so the application's formats print exactly what they did;
- an exception whose text held something to redact is withheld: ``exc_text`` carries the
  redacted traceback (which ``logging.Formatter`` prints) and ``exc_info`` becomes None;
- ``trace_id`` and ``span_id`` are set for ``%(trace_id)s`` formats, unless the application
  passed fields of those names in ``extra`` (its values are kept, never a ``KeyError``).

What crocotel's own outputs need is kept in one attribute, :data:`STATE` (``_crocotel``), a
:class:`RecordState`; its presence means the record was prepared. Leading underscore: JSON
formatters such as python-json-logger leave such attributes out.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext

from crocotel.escapes import escaped_from
from crocotel.logs.context import NO_IDS, correlation, hex_ids
from crocotel.logs.fields import (
    STANDARD_COUNT,
    exc_info,
    exception_message,
    exception_type,
    extras_of,
    stacktrace,
)
from crocotel.logs.plain import safe_str
from crocotel.redaction.engine import Redactor

__all__ = ["STATE", "WITHHELD", "RecordHook", "RecordState", "prepare", "state_of", "use_engine"]

STATE = "_crocotel"
WITHHELD = "<message withheld: redaction failed>"
_SIGNAL = "logs"
_PLAIN_TYPES = (int, float, bool, type(None))


class RecordState(str):
    """What crocotel learnt of a record while preparing it; its presence marks the record prepared.

    ``trace_id``/``span_id`` are the ids of the span current at the logging call (empty
    outside a span), ``span_context`` that span's context (the OTLP record's ids, taken here
    rather than wherever a handler runs); ``exception`` is (type, message, stacktrace) of the
    record's exception, redacted, or None; ``app_ids`` is true when the application's own
    ``extra`` supplied ``trace_id`` or ``span_id`` (then written as ``extra.trace_id`` by
    crocotel's formats).

    A ``str`` (its text is ``"prepared"``) so that handlers which turn every record attribute
    into a log attribute or a JSON field, such as OpenTelemetry's ``LoggingHandler``, see a
    plain string rather than an object they cannot encode.
    """

    trace_id: str
    span_id: str
    span_context: SpanContext
    exception: tuple[str, str, str] | None
    app_ids: bool
    _message: str | None
    _source: tuple[object, object]

    def message(self, record: logging.LogRecord) -> str:
        """``record.getMessage()``, from the text prepare() already made while msg and args are
        the same objects (formatting a message costs as much as the rest of a JSON line)."""
        message = self._message
        if message is not None and self._source[0] is record.msg and self._source[1] is record.args:
            return message
        return record.getMessage()


def _new_state(span_context: SpanContext, trace_id: str, span_id: str, app_ids: bool) -> RecordState:
    state = RecordState("prepared")
    state.trace_id = trace_id
    state.span_id = span_id
    state.span_context = span_context
    state.exception = None
    state.app_ids = app_ids
    state._message = None
    return state


_engine: Redactor = Redactor()  # safe default for formatters used without crocotel's setup


def use_engine(engine: Redactor) -> None:
    """Make ``engine`` the one that prepares records (the bootstrap's, or the null one)."""
    global _engine
    _engine = engine


def state_of(record: logging.LogRecord) -> RecordState:
    """The record's :class:`RecordState`, preparing the record first if nobody has."""
    state: RecordState | None = record.__dict__.get(STATE)
    return prepare(record) if state is None else state


def prepare(record: logging.LogRecord) -> RecordState:
    """Redact ``record`` in place and stamp its ids, once; never raises."""
    fields = record.__dict__
    state = fields.get(STATE)
    if state is not None:
        return state  # type: ignore[no-any-return]
    try:
        _, span_context, (trace_id, span_id) = correlation()
    except Exception:  # a broken context implementation must not break the logging call
        span_context, trace_id, span_id = INVALID_SPAN_CONTEXT, "", ""
    if not trace_id and record.exc_info:
        span_context, (trace_id, span_id) = _escaped(record.exc_info, fields, span_context)
    app_ids = "trace_id" in fields or "span_id" in fields
    state = _new_state(span_context, trace_id, span_id, app_ids)
    fields[STATE] = state
    if not app_ids:
        fields["trace_id"] = trace_id
        fields["span_id"] = span_id
    engine = _engine
    try:
        _prepare_message(record, engine, state)
        if record.exc_info or record.exc_text:
            _prepare_exception(record, engine, state)
        if engine.enabled:
            if record.stack_info:
                record.stack_info = engine.text(record.stack_info, _SIGNAL)
            if len(fields) > STANDARD_COUNT:
                _redact_extras(fields, engine, state.app_ids)
    except Exception:  # a value we could not read: withhold what may hold a secret
        engine.count("error", _SIGNAL)
        if engine.enabled:
            _withhold(record, state)
    return state


def _escaped(
    exc_info: Any, fields: dict[str, Any], current: SpanContext
) -> tuple[SpanContext, tuple[str, str]]:
    """With no span current, the span the record's exception escaped from (:mod:`crocotel.escapes`)
    and its ids, also set into the logging instrumentation's ``otelTraceID`` fields when it made
    them with no span; ``current`` and no ids when none was noted."""
    context = escaped_from(exc_info)
    if context is None:
        return current, NO_IDS
    ids = hex_ids(context)
    if fields.get("otelTraceID") == "0":
        fields["otelTraceID"], fields["otelSpanID"] = ids
        fields["otelTraceSampled"] = context.trace_flags.sampled
    return context, ids


def _prepare_message(record: logging.LogRecord, engine: Redactor, state: RecordState) -> None:
    """Format the message once, redact it, and keep the text for crocotel's own outputs."""
    try:
        message = record.getMessage()
    except Exception:  # the handler reports the bad format; what it prints must be clean
        if engine.enabled:
            if isinstance(record.msg, str):
                record.msg = engine.text(record.msg, _SIGNAL)
            if record.args:
                record.args = engine.value(record.args, _SIGNAL)  # type: ignore[assignment]
        return
    redacted = engine.text(message, _SIGNAL)
    if redacted is not message:
        record.msg = redacted
        record.args = None
    state._message = redacted
    state._source = (record.msg, record.args)


def _prepare_exception(record: logging.LogRecord, engine: Redactor, state: RecordState) -> None:
    """Describe the exception for crocotel's outputs; withhold it from handlers if it held a secret."""
    info = exc_info(record)
    if info is None:
        if record.exc_text:
            record.exc_text = engine.text(record.exc_text, _SIGNAL)
        return
    exc = info[1]
    trace = stacktrace(info)
    clean_trace = engine.text(trace, _SIGNAL)
    state.exception = (exception_type(exc), engine.text(exception_message(exc), _SIGNAL), clean_trace)
    if clean_trace is not trace:
        record.exc_text = clean_trace
        record.exc_info = None


def _redact_extras(fields: dict[str, Any], engine: Redactor, app_ids: bool) -> None:
    """Redact the ``extra`` fields in place; values with nothing to redact stay the same objects."""
    changes: dict[str, Any] = {}
    for key, value in extras_of(fields, app_ids):
        if engine.is_sensitive_key(key):
            replacement = engine.keyed(value, key, _SIGNAL)
            if replacement is not None:
                changes[key] = replacement
                continue
        if value.__class__ is str:
            replacement = engine.text(value, _SIGNAL)
        elif isinstance(value, _PLAIN_TYPES):
            continue
        else:
            replacement = _safe_value(engine, value)
        if replacement is not value:
            changes[key] = replacement
    if changes:
        fields.update(changes)


def _safe_value(engine: Redactor, value: Any) -> Any:
    """``value`` redacted: strings and containers by the engine, other objects by their text."""
    if isinstance(value, (str, bytes, bytearray, dict, list, tuple)):
        return engine.value(value, _SIGNAL)
    shown = safe_str(value)
    redacted = engine.text(shown, _SIGNAL)
    return value if redacted is shown else redacted


def _withhold(record: logging.LogRecord, state: RecordState) -> None:
    """The last resort when preparing failed: keep only the redacted template, or nothing."""
    try:
        record.msg = _engine.text(safe_str(record.msg), _SIGNAL)
    except Exception:
        record.msg = WITHHELD
    record.args = None
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None
    state.exception = None
    state._message = None
    fields = record.__dict__
    for key, value in list(extras_of(fields, state.app_ids)):
        if not isinstance(value, _PLAIN_TYPES):
            fields[key] = WITHHELD


class RecordHook:
    """Wraps ``logging.Logger.callHandlers`` (where it is defined) to :func:`prepare` each record.

    :meth:`remove` puts the original back when the wrapper is still in place, so the class is as
    it was; when someone patched the method on top of ours, ours becomes a pass-through instead.
    """

    def __init__(self) -> None:
        self.active = True
        self.original = logging.Logger.__dict__["callHandlers"]
        original = self.original

        @functools.wraps(original)
        def call_handlers(logger: logging.Logger, record: logging.LogRecord) -> None:
            if self.active and STATE not in record.__dict__:
                prepare(record)
            original(logger, record)

        self.function: Any = call_handlers
        logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign,assignment]

    def remove(self) -> None:
        """Undo the wrap (see the class docstring)."""
        self.active = False
        if logging.Logger.__dict__.get("callHandlers") is self.function:
            logging.Logger.callHandlers = self.original  # type: ignore[method-assign]
