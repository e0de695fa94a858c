"""Checks every crocotel wrap must pass: exact (a later patch still takes effect) and reversible.

Reusable for any instrumentor (aiogram, aiohttp, python-telegram-bot)::

    before = ClassDicts.of("aiogram")           # every class aiogram has loaded, with its __dict__
    instrumentor.instrument()
    assert_patch_reaches(HandlerObject, "call", invoke)   # per wrap target
    instrumentor.uninstrument()
    before.assert_unchanged()                   # every class's __dict__ as it was, by identity

``assert_patch_reaches`` patches the attribute where the class gets it from
(its defining class, as a test or mock would) and checks that calling the
target on an instance of the class runs the patch, and that removing the
patch brings the instrumented behaviour back.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Callable
from typing import Any

from crocotel.instrumentation.wraps import defining_class


class ClassDicts:
    """A copy of ``__dict__`` of every class defined in the loaded modules under some packages."""

    def __init__(self, prefixes: tuple[str, ...], dicts: dict[type, dict[str, Any]]) -> None:
        self.prefixes = prefixes
        self.dicts = dicts

    @classmethod
    def of(cls, *prefixes: str) -> ClassDicts:
        """Snapshot every class whose module is one of ``prefixes`` or below it."""
        return cls(prefixes, {klass: dict(vars(klass)) for klass in _classes(prefixes)})

    def differences(self) -> list[str]:
        """What changed since the snapshot: attributes added, removed or replaced, classes added."""
        problems = []
        for klass in _classes(self.prefixes):
            name = f"{klass.__module__}.{klass.__qualname__}"
            before = self.dicts.get(klass)
            if before is None:
                continue  # a module imported since: nothing of ours could have been there before
            now = vars(klass)
            for key in sorted(now.keys() - before.keys()):
                problems.append(f"{name}.{key} added")
            for key in sorted(before.keys() - now.keys()):
                problems.append(f"{name}.{key} removed")
            for key in sorted(before.keys() & now.keys()):
                if now[key] is not before[key]:
                    problems.append(f"{name}.{key} replaced ({before[key]!r} -> {now[key]!r})")
        return problems

    def assert_unchanged(self) -> None:
        """Fail with every difference when any class's ``__dict__`` is not exactly as snapshotted."""
        problems = self.differences()
        assert not problems, "classes not restored exactly:\n" + "\n".join(problems)


def _classes(prefixes: tuple[str, ...]) -> list[type]:
    found: dict[int, type] = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not any(module_name == p or module_name.startswith(p + ".") for p in prefixes):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == module_name:
                found[id(value)] = value
    return list(found.values())


def _run(result: Any) -> Any:
    return asyncio.run(result) if inspect.isawaitable(result) else result


def assert_patch_reaches(cls: type, name: str, invoke: Callable[[], Any]) -> None:
    """Patch ``cls.name`` where it is defined; ``invoke()`` must run the patch, and not after removal.

    ``invoke`` calls the target on an instance of ``cls`` (it may return an
    awaitable, which is run to completion). The patch delegates to the
    unwrapped original, so the call still does its work.
    """
    owner = defining_class(cls, name)
    installed = owner.__dict__[name]
    original = inspect.unwrap(installed)
    reached: list[Any] = []

    if inspect.iscoroutinefunction(original):

        async def patch(self: Any, *args: Any, **kwargs: Any) -> Any:
            reached.append(self)
            return await original(self, *args, **kwargs)

    else:

        def patch(self: Any, *args: Any, **kwargs: Any) -> Any:
            reached.append(self)
            return original(self, *args, **kwargs)

    setattr(owner, name, patch)
    try:
        _run(invoke())
    finally:
        setattr(owner, name, installed)
    assert reached, f"a patch of {owner.__qualname__}.{name} made after instrument() never ran"
    assert any(isinstance(instance, cls) for instance in reached), reached
    count = len(reached)
    _run(invoke())
    assert len(reached) == count, "the patch kept running after it was removed"
