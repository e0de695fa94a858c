"""The ``opentelemetry_distro`` entry point: how crocotel loads instrumentations.

The providers are built by the configurator; the distro's one job is to hand
each instrumentation the options it needs from us, such as the token-free URL
filter and the Bot API hooks for the aiohttp client.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from crocotel.redaction.urls import url_filter

__all__ = ["CrocotelDistro"]


class CrocotelDistro(BaseDistro):  # type: ignore[misc]
    """Loaded by ``opentelemetry-instrument`` before any of the app's code runs."""

    def _configure(self, **kwargs: Any) -> None:
        """Nothing to do here: the configurator validates and builds everything."""

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        """Instrument one library; the aiohttp client gets our URL filter and the Bot API hooks,
        and the logging instrumentation leaves OTLP export to crocotel."""
        if entry_point.name == "aiohttp-client":
            from crocotel.instrumentation import telegram
            from crocotel.instrumentation._context import settings

            for key, value in telegram.client_options(settings().trace_getupdates, url_filter).items():
                kwargs.setdefault(key, value)
        if entry_point.name == "logging":
            # crocotel's own bridge exports OTLP log records; the instrumentation's handler on the
            # root logger would export each record a second time. Its trace-context fields and
            # OTEL_PYTHON_LOG_CORRELATION's basicConfig keep working (docs/logging.md).
            kwargs.setdefault("enable_log_auto_instrumentation", False)
        entry_point.load()().instrument(**kwargs)
