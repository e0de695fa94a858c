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

from typing import Any

from crocotel.instrumentation._updates import HandlerNames, handler_names
from crocotel.instrumentation._vocabulary import Capped, callback_names

__all__ = ["names_of"]

_ATTRIBUTE = "_crocotel_names"
_handlers = Capped(512)
_routers = Capped(128)


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
    qualname, module = callback_names(handler.callback)
    router_name = _routers(_router_name(router, module))
    names = handler_names(_handlers(qualname), module, router_name, _commands(handler))
    handler.__dict__[_ATTRIBUTE] = (router, names)
    return names
