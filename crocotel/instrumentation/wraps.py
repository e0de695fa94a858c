"""Exact, reversible method wraps: how every crocotel instrumentor patches a library.

Two rules, so that instrumentation stays invisible to the code it wraps:

- **A later patch still takes effect.** A method defined on the class asked for
  is wrapped there, in place. A method the class inherits (``HandlerObject.call``
  comes from ``CallableObject``) gets a plain function of ours on the class
  itself that looks the inherited method up at every call: a later patch of
  ``CallableObject.call`` (a test, a mock, another instrumentation) still reaches
  handlers, under our span, and every other subclass (``FilterObject``, called
  several times per update) calls the base directly, without passing through us.
- **Undo restores the class exactly.** :meth:`Wraps.undo` puts the original
  object back into the class's ``__dict__`` (or removes ours from the subclass,
  which had none) only while our wrapper is still what sits there; if someone
  replaced it since, their object is left in place, and our wrapper, wherever it
  is still referenced, passes calls straight through from then on.

:func:`active_wraps` lists what is wrapped right now (``crocotel doctor`` and
the framework-suite plugin print it).
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wrapt import FunctionWrapper

__all__ = ["Wraps", "active_wraps", "defining_class"]

Wrapper = Callable[[Any, Any, Any, Any], Any]
"""A wrapt-style wrapper: ``(wrapped, instance, args, kwargs) -> result``."""

_lock = threading.Lock()
_active: dict[int, _Wrap] = {}


def defining_class(cls: type, name: str) -> type:
    """The class in ``cls``'s MRO whose own ``__dict__`` holds ``name``."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass
    raise AttributeError(f"{cls.__qualname__} has no attribute {name!r}")


@dataclass
class _Wrap:
    owner: type
    name: str
    inherited_from: type | None  # where the method came from, when ``owner`` did not define it
    original: Any  # what ``owner.__dict__`` held; None when the method was inherited
    proxy: Any
    active: bool = True

    def describe(self) -> str:
        where = f"{self.owner.__module__}.{self.owner.__qualname__}.{self.name}"
        if self.inherited_from is not None:
            where += f" (inherited from {self.inherited_from.__qualname__})"
        return where


class Wraps:
    """The wraps one instrumentor made, undone together."""

    def __init__(self) -> None:
        self._done: list[_Wrap] = []

    def wrap(self, cls: type, name: str, wrapper: Wrapper) -> None:
        """Wrap ``cls.name``: in place where ``cls`` defines it, else on ``cls`` over what it inherits."""
        owner = defining_class(cls, name)
        if owner is cls:
            record = _Wrap(cls, name, None, owner.__dict__[name], None)

            def guarded(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                if record.active:
                    return wrapper(wrapped, instance, args, kwargs)
                return wrapped(*args, **kwargs)

            record.proxy = FunctionWrapper(record.original, guarded)
        else:
            record = _Wrap(cls, name, owner, None, None)
            record.proxy = _over_inherited(cls, name, owner.__dict__[name], wrapper, record)
        setattr(cls, name, record.proxy)
        self._done.append(record)
        with _lock:
            _active[id(record)] = record

    def undo(self) -> None:
        """Put every original back where our wrapper still sits; stale wrappers pass through."""
        while self._done:
            record = self._done.pop()
            record.active = False
            with _lock:
                _active.pop(id(record), None)
            if record.owner.__dict__.get(record.name) is record.proxy:
                if record.inherited_from is not None:
                    delattr(record.owner, record.name)
                else:
                    setattr(record.owner, record.name, record.original)


def _over_inherited(cls: type, name: str, inherited: Any, wrapper: Wrapper, record: _Wrap) -> Any:
    """A method for ``cls`` that runs ``wrapper`` around whatever ``cls`` inherits as ``name`` at the
    time of the call; it reads as the inherited function (name, docstring, signature, coroutine)."""

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        base = getattr(super(cls, self), name)
        if record.active:
            return wrapper(base, self, args, kwargs)
        return base(*args, **kwargs)

    functools.update_wrapper(method, inherited)
    if inspect.iscoroutinefunction(inherited) and hasattr(inspect, "markcoroutinefunction"):
        inspect.markcoroutinefunction(method)  # Python 3.12+
    return method


def active_wraps() -> list[str]:
    """``module.Class.method`` of every wrap in place now, sorted."""
    with _lock:
        return sorted(record.describe() for record in _active.values())
