"""Keeps the application's ``basicConfig``, ``dictConfig`` and ``fileConfig`` calls working.

crocotel's handlers sit on the root logger, and ``logging.basicConfig`` does nothing when the
root logger has any handler, so without this an application's ``basicConfig(format=...)``
made after crocotel started (the normal order under ``opentelemetry-instrument``) would be
silently ignored, and ``dictConfig``/``fileConfig`` would throw crocotel's OTLP handler away.
Each wrapper takes crocotel's handlers off the root logger, runs the real function, and puts
them back; the stdout handler then steps aside by itself for records the app now handles.

One exception, on purpose: ``basicConfig`` given neither a format, nor handlers, nor a file
(``basicConfig(level=logging.INFO)``, the aiogram examples' idiom) only asks for a level, and
perhaps a stream; crocotel keeps formatting and honours both.
"""

from __future__ import annotations

import functools
import logging
import logging.config
from collections.abc import Callable
from typing import Any

from crocotel.logs.handler import StdoutHandler, is_crocotel

__all__ = ["PRESENTATION", "ConfigHooks"]

# basicConfig arguments that mean "the application chooses how its lines look or where they go".
PRESENTATION = frozenset({"format", "datefmt", "style", "handlers", "filename", "filemode"})


class _Wrapper:
    """One wrapped configuration function; a pass-through once ``active`` is off."""

    def __init__(
        self, module: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]
    ) -> None:
        self.module = module
        self.name = name
        self.original: Callable[..., Any] = getattr(module, name)
        self.active = True
        wrapped = make(self.original)

        @functools.wraps(self.original)
        def call(*args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return self.original(*args, **kwargs)
            return wrapped(*args, **kwargs)

        self.function = call
        setattr(module, name, call)

    def remove(self) -> None:
        """Put the original back if nobody replaced the wrapper since; else just stop wrapping."""
        self.active = False
        if getattr(self.module, self.name) is self.function:
            setattr(self.module, self.name, self.original)


def _detach() -> list[logging.Handler]:
    root = logging.root
    ours = [h for h in root.handlers if is_crocotel(h)]
    for handler in ours:
        root.removeHandler(handler)
    return ours


def _reattach(ours: list[logging.Handler]) -> None:
    root = logging.root
    for handler in ours:
        if handler not in root.handlers:
            root.addHandler(handler)


def _around(original: Callable[..., Any]) -> Callable[..., Any]:
    """dictConfig/fileConfig: run with crocotel's handlers off the root logger, then restore them."""

    def run(*args: Any, **kwargs: Any) -> Any:
        ours = _detach()
        try:
            return original(*args, **kwargs)
        finally:
            _reattach(ours)

    return run


def _basic(original: Callable[..., Any]) -> Callable[..., Any]:
    """basicConfig: as :func:`_around`, but a level-only call keeps crocotel's stdout handler."""

    def run(**kwargs: Any) -> None:
        ours = _detach()
        try:
            stdout = next((h for h in ours if isinstance(h, StdoutHandler)), None)
            if stdout is None or PRESENTATION & kwargs.keys():
                original(**kwargs)
                return
            takes_effect = kwargs.get("force", False) or not logging.root.handlers
            options = dict(kwargs)
            stream = options.pop("stream", None)
            if stream is not None and takes_effect:
                stdout.setStream(stream)
            options["handlers"] = [stdout]
            original(**options)
        finally:
            _reattach(ours)

    return run


class ConfigHooks:
    """The three wrappers, installed together and removed together."""

    def __init__(self) -> None:
        self._wrappers = [
            _Wrapper(logging, "basicConfig", _basic),
            _Wrapper(logging.config, "dictConfig", _around),
            _Wrapper(logging.config, "fileConfig", _around),
        ]

    def remove(self) -> None:
        """Restore the original functions."""
        for wrapper in self._wrappers:
            wrapper.remove()
