"""Error reporting in the bot's process: fingerprints, the error counter, and the exception hooks.

Exceptions reach us in four places: handlers (the instrumentations call :func:`report`),
asyncio (every loop's exception handler), threads (``threading.excepthook``) and the top level
(``sys.excepthook``). Each exception is recorded on the active span, logged once as a record of
the ``crocotel_errors`` logger (a JSON line with trace ids under crocotel's logging), and counted
in ``crocotel.errors{fingerprint, error.type}``.

A fingerprint is the exception's module-qualified type plus the innermost application frames as
``module:function``: no line numbers and no message text, so it is the same across runs, restarts
and machines, and 10k different messages from one call site are one fingerprint. The first
``CROCOTEL_ERROR_FINGERPRINTS`` fingerprints get their own label value, later ones count as
``other``; the first time the process sees a fingerprint a ``crocotel.error.first_seen`` event is
logged. Every text that leaves here goes through the redactor. Nothing here raises into the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import site
import sys
import sysconfig
import threading
import traceback
from collections.abc import Callable, Mapping
from contextvars import Context
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from opentelemetry import metrics as metrics_api
from opentelemetry import trace

from crocotel._version import __version__
from crocotel.logs.handler import is_crocotel
from crocotel.redaction.engine import NullRedactor, Redactor

__all__ = [
    "DEFAULT_LIMIT",
    "LOGGER_NAME",
    "OTHER",
    "ErrorReporter",
    "Fingerprint",
    "fingerprint",
    "install",
    "report",
]

DEFAULT_LIMIT = 100  # fingerprints with their own label value (CROCOTEL_ERROR_FINGERPRINTS)
OTHER = "other"
LOGGER_NAME = "crocotel_errors"  # outside the ``crocotel.*`` loggers, which only reach stderr
FRAMES = 3  # application frames in a fingerprint
FIRST_SEEN_EVENT = "crocotel.error.first_seen"
_SEEN_MAX = 10_000  # fingerprints remembered for first-sight events (bounded memory)
_KINDS_MAX = 4096  # file classifications cached
_READABLE = re.compile(r"[^A-Za-z0-9_.<>]+")
_NOT_ERRORS = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)
_MARK = "_crocotel_error_fingerprint"

# -- fingerprints ---------------------------------------------------------------------------

_APP, _LIBRARY, _STDLIB, _OURS = 0, 1, 2, 3


class _FrameKinds:
    """Says whether a code file is the application's, a library's, the stdlib's or crocotel's.

    Decided by path: site-packages and dist-packages hold libraries, the interpreter's lib
    directory the stdlib; crocotel by module name (an editable install lives anywhere).
    """

    def __init__(self) -> None:
        paths = sysconfig.get_paths()
        libs = {paths.get("purelib", ""), paths.get("platlib", "")}
        try:
            libs.update(site.getsitepackages())
            libs.add(site.getusersitepackages())
        except Exception:  # site may be trimmed (embedded interpreters)
            pass
        self._libs = tuple(_norm(p) for p in libs if p)
        stdlib = {paths.get("stdlib", ""), paths.get("platstdlib", "")}
        self._stdlib = tuple(_norm(p) for p in stdlib if p)
        self._cache: dict[str, int] = {}

    def kind(self, filename: str, module: str) -> int:
        if module == "crocotel" or module.startswith("crocotel."):
            return _OURS
        known = self._cache.get(filename)
        if known is None:
            known = self._classify(filename)
            if len(self._cache) >= _KINDS_MAX:
                self._cache.clear()
            self._cache[filename] = known
        return known

    def _classify(self, filename: str) -> int:
        if filename.startswith("<"):
            return _STDLIB if filename.startswith("<frozen") else _APP
        path = _norm(filename)
        parts = path.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts or path.startswith(self._libs):
            return _LIBRARY
        if path.startswith(self._stdlib):
            return _STDLIB
        return _APP


def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


_KINDS = _FrameKinds()


@dataclass(frozen=True)
class Fingerprint:
    """What groups one failure: ``digest`` (hex), ``label`` (readable prefix + digest), the frames."""

    digest: str
    label: str
    error_type: str
    frames: tuple[str, ...]


def _module_of(frame_globals: Mapping[str, Any]) -> str:
    name = frame_globals.get("__name__")
    if not isinstance(name, str):
        return "?"
    if name == "__main__":  # ``python -m pkg`` runs pkg.__main__ as __main__: use the stable name
        spec = frame_globals.get("__spec__")
        spec_name = getattr(spec, "name", None)
        if isinstance(spec_name, str) and spec_name:
            return spec_name
    return name


def _type_name(cls: type[BaseException]) -> str:
    """``module.QualName`` of an exception class; a script's ``__main__`` resolved like frames."""
    module = cls.__module__
    if module == "__main__":
        main = sys.modules.get("__main__")
        module = _module_of(vars(main)) if main is not None else module
    return f"{module}.{cls.__qualname__}"


def error_type(exc: BaseException) -> str:
    """The ``error.type`` value: ``module.QualName``, bare for builtins (as in log lines and spans)."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else _type_name(cls)


def fingerprint(exc: BaseException, frames: int = FRAMES) -> Fingerprint:
    """The fingerprint of ``exc``: its type and the innermost application frames of its traceback.

    Application frames are those outside site-packages, the stdlib and crocotel; when there are
    none (the failure is entirely inside libraries) the innermost library frames stand in, then
    the stdlib's. No line numbers and no message text take part.
    """
    tb = exc.__traceback__
    codes: list[Any] = []
    while tb is not None:
        codes.append(tb.tb_frame)
        tb = tb.tb_next
    key = (type(exc), frames, *(f.f_code for f in codes))
    known = _FINGERPRINTS.get(key)
    if known is not None:  # one call site fails again: no module lookups, no hashing
        return known
    found: list[list[str]] = [[], [], []]  # app, library, stdlib; innermost last
    for frame in codes:
        module = _module_of(frame.f_globals)
        code = frame.f_code
        kind = _KINDS.kind(code.co_filename, module)
        if kind != _OURS:
            found[kind].append(f"{module}:{getattr(code, 'co_qualname', code.co_name)}")
    chosen = next((f for f in found if f), [])
    picked = tuple(reversed(chosen[-frames:])) if frames > 0 else ()
    full_type = _type_name(type(exc))
    digest = hashlib.sha256("\n".join((full_type, *picked)).encode()).hexdigest()[:12]
    readable = picked[0].rpartition(":")[2].rpartition(".")[2] if picked else type(exc).__name__
    readable = _READABLE.sub("_", readable)[:32] or "error"
    made = Fingerprint(digest, f"{readable}-{digest}", error_type(exc), picked)
    if len(_FINGERPRINTS) >= _KINDS_MAX:
        _FINGERPRINTS.clear()
    _FINGERPRINTS[key] = made
    return made


_FINGERPRINTS: dict[tuple[Any, ...], Fingerprint] = {}  # by type and code objects (bounded)


# -- the reporter ---------------------------------------------------------------------------


class ErrorReporter:
    """Counts, logs and records exceptions; bounded label values and memory."""

    def __init__(
        self,
        meter_provider: metrics_api.MeterProvider | None = None,
        redactor: Redactor | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        provider = meter_provider if meter_provider is not None else metrics_api.get_meter_provider()
        self._counter = provider.get_meter("crocotel", __version__).create_counter(
            "crocotel.errors",
            unit="{error}",
            description="Exceptions in handlers, asyncio tasks, threads and at top level, by fingerprint",
        )
        self._redactor: Redactor = redactor if redactor is not None else NullRedactor()
        self._limit = limit
        self._labels: dict[str, str] = {}  # digest -> label value, the first ``limit`` only
        self._types: set[str] = set()  # error.type values with their own label, as many
        self._seen: set[str] = set()  # digests seen, for first-sight events (bounded)
        self._attrs: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()
        self._busy = threading.local()
        self.logger = logging.getLogger(LOGGER_NAME)

    @property
    def redacting(self) -> bool:
        """Whether text is redacted (``CROCOTEL_REDACT`` on)."""
        return self._redactor.enabled

    def text(self, value: str) -> str:
        """``value`` through the redactor (the null one passes it through)."""
        return self._redactor.text(value, "logs")

    def _emit(self, record: logging.LogRecord) -> None:
        """Hand an error record to crocotel's own handlers only (stdout JSON line, OTLP).

        Not through the logging tree: the application's handlers and pytest's caplog see exactly
        the records they saw without crocotel (the framework logs its own line for a failing
        handler, Python's hooks print theirs); crocotel adds its fingerprinted line to its outputs.
        """
        for handler in logging.root.handlers:
            if is_crocotel(handler) and record.levelno >= handler.level:
                handler.handle(record)

    def report(
        self,
        exc: BaseException,
        source: str,
        *,
        recorded: bool = False,
        context: Context | None = None,
        message: str | None = None,
    ) -> str | None:
        """Count, log and record ``exc`` once; returns its fingerprint label (None when skipped).

        ``recorded``: the caller already recorded the exception on the current span (the
        instrumentations do), so only the fingerprint is added there. ``context``: the
        contextvars of the code that failed (an asyncio task's), for the span and trace ids.
        """
        if isinstance(exc, _NOT_ERRORS) or getattr(self._busy, "on", False):
            return None
        done = _reported(exc)
        if done is not None:
            return done
        self._busy.on = True
        try:
            if context is not None:
                return context.run(self._report, exc, source, recorded, message)
            return self._report(exc, source, recorded, message)
        except Exception:  # telemetry must never hurt the bot
            return None
        finally:
            self._busy.on = False

    def _report(self, exc: BaseException, source: str, recorded: bool, message: str | None) -> str:
        fp = fingerprint(exc)
        _mark(exc, fp.label)
        with self._lock:
            label = self._labels.get(fp.digest)
            if label is None and len(self._labels) < self._limit:
                label = self._labels[fp.digest] = fp.label
                self._types.add(fp.error_type)
            first = fp.digest not in self._seen and len(self._seen) < _SEEN_MAX
            if first:
                self._seen.add(fp.digest)
            type_label = fp.error_type if fp.error_type in self._types else OTHER
            key = (label or OTHER, type_label)
            attrs = self._attrs.get(key)
            if attrs is None:
                attrs = self._attrs[key] = {"fingerprint": self.text(key[0]), "error.type": self.text(key[1])}
        self._counter.add(1, attrs)
        shown = label or OTHER
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("error.fingerprint", shown)
            if not recorded:
                span.record_exception(exc, {"error.fingerprint": shown})
        if first:
            self._first_seen(fp, shown, source)
        self._log(exc, fp, shown, source, message)
        return shown

    def _fields(self, fp: Fingerprint, shown: str, source: str) -> dict[str, object]:
        return {
            "error.fingerprint": shown,
            "error.fingerprint.digest": fp.digest,
            "error.type": self.text(fp.error_type),
            "error.source": source,
            "error.frames": self.text(" <- ".join(fp.frames)),
        }

    def _first_seen(self, fp: Fingerprint, shown: str, source: str) -> None:
        if not self.logger.isEnabledFor(logging.WARNING):
            return
        where = fp.frames[0] if fp.frames else "no application frame"
        fields = self._fields(fp, shown, source)
        fields["event.name"] = FIRST_SEEN_EVENT
        record = self.logger.makeRecord(
            LOGGER_NAME,
            logging.WARNING,
            __file__,
            0,
            self.text(f"first occurrence of error {shown}: {fp.error_type} in {where}"),
            (),
            None,
            extra=fields,
        )
        self._emit(record)

    def _log(self, exc: BaseException, fp: Fingerprint, shown: str, source: str, message: str | None) -> None:
        if not self.logger.isEnabledFor(logging.ERROR):
            return
        info: tuple[type[BaseException], BaseException, TracebackType | None] = (
            type(exc),
            exc,
            exc.__traceback__,
        )
        what = message or _SOURCE_TEXT.get(source, source)
        record = self.logger.makeRecord(
            LOGGER_NAME,
            logging.ERROR,
            __file__,
            0,
            self.text(f"{what}: {fp.error_type} [{shown}]"),
            (),
            info,
            extra=self._fields(fp, shown, source),
        )
        # formatted and scrubbed here: a record prepared elsewhere could keep the raw exception text
        record.exc_text = self.text("".join(traceback.format_exception(*info)).rstrip("\n"))
        self._emit(record)


_SOURCE_TEXT = {
    "handler": "exception in handler",
    "job": "exception in scheduled job",
    "asyncio": "exception in asyncio",
    "thread": "exception in thread",
    "uncaught": "uncaught exception",
}


def _reported(exc: BaseException) -> str | None:
    try:
        label = exc.__dict__.get(_MARK)
    except Exception:  # no __dict__ (a C type with slots): cannot tell, report it
        return None
    return label if isinstance(label, str) else None


def _mark(exc: BaseException, label: str) -> None:
    with contextlib.suppress(Exception):
        exc.__dict__[_MARK] = label


_active: ErrorReporter | None = None


def report(exc: BaseException, source: str = "handler", *, recorded: bool = False) -> str | None:
    """Report an exception an instrumentation caught; a no-op until telemetry is configured.

    One call per place that catches: it counts the fingerprint, logs the error once (the same
    exception object is never reported twice) and records it on the current span unless
    ``recorded`` says the caller did. Returns the fingerprint label, never raises.
    """
    reporter = _active
    if reporter is None:
        return None
    return reporter.report(exc, source, recorded=recorded)


# -- hooks ----------------------------------------------------------------------------------


class _Hooks:
    """The three hooks, each chained to what was there before and removable exactly."""

    def __init__(self, reporter: ErrorReporter) -> None:
        self.reporter = reporter
        self.active = True
        self.sys_previous = sys.excepthook
        self.thread_previous = threading.excepthook
        self.loop_original: Any = asyncio.BaseEventLoop.__dict__.get("call_exception_handler")
        hooks = self

        def call_exception_handler(loop: asyncio.BaseEventLoop, context: dict[str, Any]) -> None:
            if hooks.active:
                hooks.on_loop(context)
            hooks.loop_original(loop, context)

        self.loop_hook = call_exception_handler

    def on_sys(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if self.active:
            self.reporter.report(exc, "uncaught")
            if self.sys_previous is sys.__excepthook__ and self._print_scrubbed("", exc_type, exc, tb):
                return
        self.sys_previous(exc_type, exc, tb)

    def on_thread(self, args: threading.ExceptHookArgs) -> None:
        if self.active and args.exc_value is not None:
            name = getattr(args.thread, "name", None)
            self.reporter.report(args.exc_value, "thread", message=f"exception in thread {name}")
            if self.thread_previous is threading.__excepthook__:
                if args.exc_type is SystemExit:
                    return  # silently ignored, as by the default hook
                heading = f"Exception in thread {name}:\n"
                if self._print_scrubbed(heading, args.exc_type, args.exc_value, args.exc_traceback):
                    return
        self.thread_previous(args)

    def _print_scrubbed(
        self, heading: str, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> bool:
        """Print what Python's default hook prints, redacted (the default would print the token)."""
        if not self.reporter.redacting or sys.stderr is None:
            return False
        try:
            text = heading + "".join(traceback.format_exception(exc_type, exc, tb))
            sys.stderr.write(self.reporter.text(text))
            sys.stderr.flush()
        except Exception:
            return False
        return True

    def on_loop(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not isinstance(exc, BaseException):
            return  # "Task was destroyed but it is pending!" and the like: no exception to count
        task = context.get("task") or context.get("future")
        get_context = getattr(task, "get_context", None)  # Python 3.12+
        task_context = None
        if get_context is not None:
            try:
                task_context = get_context()
            except Exception:
                task_context = None
        message = context.get("message")
        self.reporter.report(
            exc,
            "asyncio",
            context=task_context,
            message=f"asyncio: {message}" if isinstance(message, str) else None,
        )

    def install(self) -> None:
        sys.excepthook = self.on_sys
        threading.excepthook = self.on_thread
        asyncio.BaseEventLoop.call_exception_handler = self.loop_hook  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        """Put back what was there; a hook someone chained on top of ours becomes a pass-through."""
        self.active = False
        if sys.excepthook == self.on_sys:
            sys.excepthook = self.sys_previous
        if threading.excepthook == self.on_thread:
            threading.excepthook = self.thread_previous
        if asyncio.BaseEventLoop.__dict__.get("call_exception_handler") is self.loop_hook:
            if self.loop_original is None:
                del asyncio.BaseEventLoop.call_exception_handler
            else:
                asyncio.BaseEventLoop.call_exception_handler = self.loop_original  # type: ignore[method-assign]


_install_lock = threading.Lock()


def install(
    meter_provider: metrics_api.MeterProvider | None = None,
    redactor: Redactor | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Callable[[], None]:
    """Start reporting: hook ``sys``, ``threading`` and every asyncio loop; returns the uninstall.

    The asyncio hook wraps ``BaseEventLoop.call_exception_handler``, the method every loop of
    the standard library calls before the handler the application set (or the default one), so
    loops created before or after this call, by ``asyncio.run`` or by hand, are all covered and
    the application's handler still runs. A second install replaces the first.
    """
    global _active
    with _install_lock:
        reporter = ErrorReporter(meter_provider, redactor, limit)
        hooks = _Hooks(reporter)
        hooks.install()
        _active = reporter
    done = False

    def uninstall() -> None:
        global _active
        nonlocal done
        with _install_lock:
            if done:
                return
            done = True
            hooks.uninstall()
            if _active is reporter:
                _active = None

    return uninstall
