"""Names of aiogram handlers and routers as an operator wants to read them.

A handler is named after its code (``cmd_start``, ``EchoHandler``,
``Admin.ban``; ``setup.on_text`` for a function defined inside ``setup``),
never after aiogram's wrapper (``CallableObject.call``). A router keeps the
name it was given; routers made without one are called ``hex(id(router))``
by aiogram, which changes on every start, so they are named after the
module of the handler instead. Names are computed once per
handler and kept on aiogram's ``HandlerObject``.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

from crocotel.instrumentation.botapi import Capped

__all__ = ["HandlerNames", "names_of"]

_ATTRIBUTE = "_crocotel_names"
_handlers = Capped(512)
_routers = Capped(128)


@dataclass(frozen=True)
class HandlerNames:
    """What spans and metrics call one handler, and the commands it was registered for."""

    handler: str
    router: str
    commands: frozenset[str]
    span_name: str
    span_attributes: dict[str, str]


def _callback_names(callback: Any) -> tuple[str, str]:
    """(qualified name, module) of the code behind a callback."""
    target = inspect.unwrap(callback)
    while isinstance(target, functools.partial):
        target = inspect.unwrap(target.func)
    method = getattr(target, "__func__", None)  # bound methods
    if method is not None:
        target = method
    if not (inspect.isfunction(target) or inspect.isclass(target) or inspect.isbuiltin(target)):
        target = type(target)  # a callable instance: name its class
    qualname = (
        getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or type(target).__name__
    )
    module = getattr(target, "__module__", None) or "unknown"
    return str(qualname).replace(".<locals>", ""), str(module)


def _router_name(router: Any, module: str) -> str:
    name = getattr(router, "name", None)
    if not isinstance(name, str) or not name or name == hex(id(router)):
        return module
    return name


def _commands(handler: Any) -> frozenset[str]:
    """Lower-cased literal commands of the handler's ``Command`` filters (patterns are left out)."""
    found: set[str] = set()
    for flt in getattr(handler, "filters", None) or ():
        for command in getattr(getattr(flt, "callback", None), "commands", None) or ():
            if isinstance(command, str):
                found.add(command.lower())
    return frozenset(found)


def names_of(handler: Any, router: Any) -> HandlerNames:
    """Names of ``handler`` (an aiogram ``HandlerObject``) running in ``router``; cached on the handler."""
    cached = handler.__dict__.get(_ATTRIBUTE)
    if cached is not None and cached[0] is router:
        names: HandlerNames = cached[1]
        return names
    qualname, module = _callback_names(handler.callback)
    name = _handlers(qualname)
    router_name = _routers(_router_name(router, module))
    names = HandlerNames(
        handler=name,
        router=router_name,
        commands=_commands(handler),
        span_name=f"telegram.handler {name}",
        span_attributes={
            "telegram.handler": name,
            "telegram.router": router_name,
            "code.function.name": f"{module}.{qualname}",
        },
    )
    handler.__dict__[_ATTRIBUTE] = (router, names)
    return names
