"""Exact, reversible method wraps: how every crocotel instrumentor patches a library.

Two rules, so that instrumentation stays invisible to the code it wraps:

- **Wrap where the method is defined.** ``HandlerObject.call`` is inherited
  from ``CallableObject``; putting a wrapper on the subclass would pin the
  function as it was at instrument time, and a later patch of
  ``CallableObject.call`` (a test, a mock, another instrumentation) would no
  longer reach handlers. :meth:`Wraps.wrap` finds the class in the MRO that
  holds the attribute and wraps it there; when that is a base class, the
  wrapper runs only for instances of the class asked for, and every other
  subclass (``FilterObject``) calls the original as before.
- **Undo restores the class exactly.** :meth:`Wraps.undo` puts the original
  object back into the defining class's ``__dict__`` only while our wrapper is
  still what sits there; if someone replaced it since, their object is left
  in place, and our wrapper, wherever it is still referenced, passes calls
  straight through from then on.

:func:`active_wraps` lists what is wrapped right now (``crocotel doctor`` and
the framework-suite plugin print it).
"""

from __future__ import annotations

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
    applies_to: type
    original: Any
    proxy: Any
    active: bool = True

    def describe(self) -> str:
        where = f"{self.owner.__module__}.{self.owner.__qualname__}.{self.name}"
        if self.applies_to is not self.owner:
            where += f" (for {self.applies_to.__qualname__})"
        return where


class Wraps:
    """The wraps one instrumentor made, undone together."""

    def __init__(self) -> None:
        self._done: list[_Wrap] = []

    def wrap(self, cls: type, name: str, wrapper: Wrapper) -> None:
        """Wrap ``cls.name`` where it is defined; ``wrapper`` runs for instances of ``cls`` only."""
        owner = defining_class(cls, name)
        original = owner.__dict__[name]
        record = _Wrap(owner, name, cls, original, None)

        if owner is cls:

            def guarded(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                if record.active:
                    return wrapper(wrapped, instance, args, kwargs)
                return wrapped(*args, **kwargs)

        else:

            def guarded(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                if record.active and isinstance(instance, cls):
                    return wrapper(wrapped, instance, args, kwargs)
                return wrapped(*args, **kwargs)

        record.proxy = FunctionWrapper(original, guarded)
        setattr(owner, name, record.proxy)
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
                setattr(record.owner, record.name, record.original)


def active_wraps() -> list[str]:
    """``module.Class.method`` of every wrap in place now, sorted."""
    with _lock:
        return sorted(record.describe() for record in _active.values())
