"""The ``opentelemetry_distro`` entry point: which instrumentations crocotel loads, and with what.

The providers are built by the configurator; the distro decides, for each
installed instrumentation ``opentelemetry-instrument`` offers it, whether to
load it (upstream ones that change a bot's behaviour are held back unless
``CROCOTEL_ENABLE_INSTRUMENTATIONS`` names them, see :mod:`crocotel.instrumentation_policy`),
and hands each the options it needs from us: the token-free URL filter and the
Bot API hooks for the aiohttp client, and crocotel's settings for the Telegram
instrumentors (which never reach into the bootstrap themselves).
"""

from __future__ import annotations

import logging
import os
from importlib import metadata
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from crocotel.instrumentation_policy import held_back
from crocotel.redaction.urls import url_filter

__all__ = ["CrocotelDistro", "installed_instrumentations"]

_log = logging.getLogger("crocotel.distro")

_TELEGRAM = frozenset({"aiogram", "python-telegram-bot"})
_SEMCONV = "OTEL_SEMCONV_STABILITY_OPT_IN"


def installed_instrumentations() -> frozenset[str]:
    """The entry-point names of every installed OpenTelemetry instrumentation."""
    return frozenset(ep.name for ep in metadata.entry_points(group="opentelemetry_instrumentor"))


def _settings() -> Any:
    """What the configurator used (or freshly read settings when it did not run)."""
    from crocotel import bootstrap, config

    current = bootstrap.current()
    return current.settings if current is not None else config.load()


def _telegram_options() -> dict[str, Any]:
    """``trace_getupdates`` and ``learn_phone`` from what the configurator built (or the environment)."""
    from crocotel import bootstrap

    current = bootstrap.current()
    settings = _settings()
    options: dict[str, Any] = {"trace_getupdates": settings.trace_getupdates}
    if current is not None and current.redaction.engine.enabled:
        options["learn_phone"] = current.redaction.engine.learn_phone
    return options


class CrocotelDistro(BaseDistro):  # type: ignore[misc]
    """Loaded by ``opentelemetry-instrument`` before any of the app's code runs."""

    _installed: frozenset[str] | None = None

    def _configure(self, **kwargs: Any) -> None:
        """Stable HTTP semantic conventions (``url.full``, seconds) unless the user chose otherwise."""
        os.environ.setdefault(_SEMCONV, "http")

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        """Instrument one library; the aiohttp client gets our URL filter, the Bot API hooks and
        bound duration series, the logging instrumentation leaves OTLP export to crocotel, and
        system metrics keep to the process; held-back ones are skipped."""
        if self._installed is None:
            self._installed = installed_instrumentations()
        reason = held_back(entry_point.name, _settings().enable_instrumentations, self._installed)
        if reason is not None:
            _log.debug("crocotel: not loading instrumentation %s: %s", entry_point.name, reason)
            return
        if entry_point.name == "system_metrics":
            from opentelemetry.metrics import get_meter_provider

            from crocotel.runtime import start_system_metrics

            # its default reads every CPU, disk and network interface of the host: only the process part
            start_system_metrics(kwargs.get("meter_provider") or get_meter_provider())
            return
        if entry_point.name == "aiohttp-client":
            from crocotel.bound_metrics import SeriesMeterProvider
            from crocotel.instrumentation import aiohttp_client

            options = aiohttp_client.client_options(_telegram_options()["trace_getupdates"], url_filter)
            for key, value in options.items():
                kwargs.setdefault(key, value)
            # its request durations find their series without the SDK's attribute work per request
            kwargs.setdefault("meter_provider", SeriesMeterProvider())
        elif entry_point.name in _TELEGRAM:
            for key, value in _telegram_options().items():
                kwargs.setdefault(key, value)
        if entry_point.name == "logging":
            # crocotel's own bridge exports OTLP log records; the instrumentation's handler on the
            # root logger would export each record a second time. Its trace-context fields and
            # OTEL_PYTHON_LOG_CORRELATION's basicConfig keep working (docs/logging.md).
            kwargs.setdefault("enable_log_auto_instrumentation", False)
        entry_point.load()().instrument(**kwargs)
