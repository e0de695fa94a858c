"""The ``opentelemetry_distro`` entry point: how crocotel loads instrumentations.

The providers are built by the configurator; the distro's one job is to hand
each instrumentation the options it needs from us, such as the token-free URL
filter for the aiohttp client.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from crocotel.redaction.urls import url_filter


class CrocotelDistro(BaseDistro):  # type: ignore[misc]
    """Loaded by ``opentelemetry-instrument`` before any of the app's code runs."""

    def _configure(self, **kwargs: Any) -> None:
        """Nothing to do here: the configurator validates and builds everything."""

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        """Instrument one library, giving the aiohttp client our URL filter."""
        if entry_point.name == "aiohttp-client":
            kwargs.setdefault("url_filter", url_filter)
        entry_point.load()().instrument(**kwargs)
