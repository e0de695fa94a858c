"""Which upstream instrumentations crocotel does not load unless asked, and why.

``opentelemetry-bootstrap -a install`` installs an instrumentation for every
library it finds, and ``opentelemetry-instrument`` loads every one installed.
A few of them change how the bot behaves, which telemetry must never do; the
distro holds those back by default. ``CROCOTEL_ENABLE_INSTRUMENTATIONS``
(comma-separated names from :data:`HELD_BACK`) loads them anyway;
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` keeps its upstream meaning and wins
over both. ``crocotel doctor`` prints the decision for each one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

__all__ = ["HELD_BACK", "OURS_INSTEAD", "held_back"]

HELD_BACK: Mapping[str, str] = {
    "aiohttp-server": (
        "it replaces aiohttp.web.Application with a subclass (code holding the original class breaks) "
        "and imports aiohttp.web at start, which loads /etc/mime.types into the global mimetypes "
        "table; crocotel's aiohttp-web makes the server spans instead"
    ),
    "asyncio": (
        "on Python 3.11 its create_task wrapper awaits plain generators (TypeError), and it closes "
        "never-awaited Event.wait() coroutines (unraisable-exception warnings)"
    ),
}
"""Upstream instrumentation entry-point name -> why crocotel does not load it by default."""

OURS_INSTEAD: Mapping[str, str] = {"aiohttp-web": "aiohttp-server"}
"""crocotel instrumentation -> the upstream one it stands in for (ours steps aside when that is enabled)."""


def held_back(name: str, enabled: Collection[str], installed: Collection[str]) -> str | None:
    """Why the instrumentation ``name`` is not loaded, or None to load it.

    ``enabled`` are the names the user opted into; ``installed`` every
    instrumentation entry-point name present.
    """
    if name in HELD_BACK and name not in enabled:
        return f"{HELD_BACK[name]}; set CROCOTEL_ENABLE_INSTRUMENTATIONS={name} to load it anyway"
    upstream = OURS_INSTEAD.get(name)
    if upstream is not None and upstream in enabled and upstream in installed:
        return f"{upstream} is enabled by CROCOTEL_ENABLE_INSTRUMENTATIONS and makes these spans"
    return None
