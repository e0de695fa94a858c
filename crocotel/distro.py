"""The ``opentelemetry_distro`` entry point: which instrumentations crocotel loads, and with what.

The providers are built by the configurator; the distro decides, for each
installed instrumentation ``opentelemetry-instrument`` offers it, whether to
load it (upstream ones that change a bot's behaviour are held back unless
``CROCOTEL_ENABLE_INSTRUMENTATIONS`` names them, see :mod:`crocotel.policy`),
and hands the aiohttp client instrumentation the token-free URL filter and the
Bot API hooks.
"""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from crocotel.policy import held_back
from crocotel.redaction.urls import url_filter

_log = logging.getLogger("crocotel.distro")


def installed_instrumentations() -> frozenset[str]:
    """The entry-point names of every installed OpenTelemetry instrumentation."""
    return frozenset(ep.name for ep in metadata.entry_points(group="opentelemetry_instrumentor"))


class CrocotelDistro(BaseDistro):  # type: ignore[misc]
    """Loaded by ``opentelemetry-instrument`` before any of the app's code runs."""

    _installed: frozenset[str] | None = None

    def _configure(self, **kwargs: Any) -> None:
        """Nothing to do here: the configurator validates and builds everything."""

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        """Instrument one library, unless crocotel's policy holds it back."""
        from crocotel.instrumentation._context import settings

        if self._installed is None:
            self._installed = installed_instrumentations()
        reason = held_back(entry_point.name, settings().enable_instrumentations, self._installed)
        if reason is not None:
            _log.debug("crocotel: not loading instrumentation %s: %s", entry_point.name, reason)
            return
        if entry_point.name == "aiohttp-client":
            from crocotel.instrumentation import telegram

            for key, value in telegram.client_options(settings().trace_getupdates, url_filter).items():
                kwargs.setdefault(key, value)
        entry_point.load()().instrument(**kwargs)
