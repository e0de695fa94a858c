"""Helpers for the crocotel.logs tests: an isolated root logger, a tracer, a logfmt parser."""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import logging
import logging.config
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from crocotel.logs import uninstall as uninstall_logging
from crocotel.redaction.engine import SECRET, NullRedactor

F = TypeVar("F", bound=Callable[..., Any])


MARKER = "SECRET-MARKER-42"
MASK = "[FAKE-REDACTED]"


def fake_redact(text: str) -> str:
    """The stand-in redaction engine: replaces the marker, returns the same object otherwise."""
    return text.replace(MARKER, MASK) if MARKER in text else text


def fake_is_secret_key(key: str) -> bool:
    """The stand-in secret-key rule."""
    return any(word in key.lower() for word in ("password", "token", "secret", "authorization", "api_key"))


class FakeRedactor(NullRedactor):
    """A stand-in engine: the marker is redacted, secret-looking keys are masked whole."""

    enabled = True

    def text(self, value: str, signal: str = "api") -> str:
        return fake_redact(value)

    def value(self, value: object, signal: str = "api", key: str | None = None) -> object:
        if isinstance(value, str):
            return fake_redact(value)
        if isinstance(value, dict):
            keys = {k: str(self.value(k)) for k in value}
            return {
                keys[k]: SECRET if fake_is_secret_key(keys[k]) else self.value(v) for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        if isinstance(value, (bytes, bytearray)):
            return fake_redact(bytes(value).decode())
        return value

    def is_sensitive_key(self, key: str) -> bool:
        return fake_is_secret_key(key)

    def keyed(self, value: object, key: object, signal: str) -> object | None:
        return SECRET if isinstance(key, str) and fake_is_secret_key(key) else None


def tracer() -> Tracer:
    """A real SDK tracer (the global provider is left alone)."""
    return TracerProvider().get_tracer("crocotel-tests")


@contextlib.contextmanager
def isolated_logging() -> Iterator[None]:
    """Run with a bare root logger at Python's defaults, and restore everything after.

    Used inside the test body (see :func:`isolated`), because pytest attaches its capture
    handlers to the root logger at the start of each test phase, and crocotel rightly treats
    them as the application's output. Restores root handlers and level, the record factory
    and the three config functions, every named logger's handlers, level, propagation and
    disabled flag (``dictConfig`` changes those), and uninstalls whatever crocotel installed.
    """
    # Threads left running by earlier tests (exporters, servers) may log at any moment; their
    # records are kept out so that assertions see only what the test itself logged.
    current = threading.current_thread()
    background = {(t.ident, t.name) for t in threading.enumerate() if t is not current}
    original_handle = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        if (record.thread, record.threadName) not in background:
            original_handle(self, record)

    logging.Logger.handle = handle  # type: ignore[method-assign]
    loggers = {
        name: (logger.handlers[:], logger.level, logger.propagate, logger.disabled)
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root = logging.root
    saved_handlers = root.handlers[:]
    saved_level = root.level
    saved_factory = logging.getLogRecordFactory()
    saved_functions = (logging.basicConfig, logging.config.dictConfig, logging.config.fileConfig)
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        uninstall_logging()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        logging.setLogRecordFactory(saved_factory)
        logging.basicConfig, logging.config.dictConfig, logging.config.fileConfig = saved_functions
        for name, logger in logging.root.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                handlers, level, propagate, disabled = loggers.get(name, ([], logging.NOTSET, True, False))
                logger.handlers[:] = handlers
                logger.setLevel(level)
                logger.propagate, logger.disabled = propagate, disabled
        logging.Logger.handle = original_handle  # type: ignore[method-assign]


def isolated(test: F) -> F:
    """Decorate a test (plain or async) to run its body under :func:`isolated_logging`."""
    if inspect.iscoroutinefunction(test):

        @functools.wraps(test)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with isolated_logging():
                return await test(*args, **kwargs)

        return cast(F, run_async)

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        with isolated_logging():
            return test(*args, **kwargs)

    return cast(F, run)


def lines(stream: io.StringIO) -> list[str]:
    """The lines written so far, split on "\n" only, as log shippers do."""
    return stream.getvalue().split("\n")[:-1]


_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def parse_logfmt(line: str) -> dict[str, str]:
    """Parse one logfmt line strictly: bare or double-quoted values, ``\\`` escapes as written by
    crocotel (``\\n \\r \\t \\" \\\\ \\uXXXX \\xNN``). Raises ValueError on anything malformed."""
    fields: dict[str, str] = {}
    i, n = 0, len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        eq = line.find("=", i)
        if eq <= i:
            raise ValueError(f"no key at {i}: {line!r}")
        key = line[i:eq]
        if any(c in key for c in ' "'):
            raise ValueError(f"bad key {key!r}")
        i = eq + 1
        if i < n and line[i] == '"':
            i += 1
            out: list[str] = []
            while True:
                if i >= n:
                    raise ValueError(f"unterminated quote: {line!r}")
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\":
                    esc = line[i + 1]
                    if esc in _UNESCAPE:
                        out.append(_UNESCAPE[esc])
                        i += 2
                    elif esc == "u":
                        out.append(chr(int(line[i + 2 : i + 6], 16)))
                        i += 6
                    elif esc == "x":
                        out.append(chr(int(line[i + 2 : i + 4], 16)))
                        i += 4
                    else:
                        raise ValueError(f"bad escape \\{esc}")
                    continue
                if c < " ":
                    raise ValueError(f"raw control character in {line!r}")
                out.append(c)
                i += 1
            value = "".join(out)
            if i < n and line[i] != " ":
                raise ValueError(f"junk after quoted value at {i}: {line!r}")
        else:
            end = line.find(" ", i)
            end = n if end < 0 else end
            value = line[i:end]
            if '"' in value or "=" in value:
                raise ValueError(f"unquoted special character in {value!r}")
            i = end
        if key in fields:
            raise ValueError(f"duplicate key {key!r}")
        fields[key] = value
    return fields
