"""crocotel: an OpenTelemetry distribution for Telegram bots.

Launch a bot as ``opentelemetry-instrument python -m mybot`` or
``crocotel run -- python -m mybot``; call :func:`configure` for apps that
cannot use the wrapper. Importing this package is cheap: the SDK is loaded
only when telemetry is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crocotel._version import __version__
from crocotel.config import ConfigError, Settings

if TYPE_CHECKING:
    from crocotel.bootstrap import Telemetry


def configure() -> Telemetry:
    """Build traces, metrics and logs from ``OTEL_*`` and ``CROCOTEL_*``; idempotent.

    Raises :class:`ConfigError` only with ``CROCOTEL_STRICT=true``.
    """
    from crocotel import bootstrap

    return bootstrap.configure()


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop telemetry within ``timeout`` (default ``CROCOTEL_SHUTDOWN_TIMEOUT``)."""
    from crocotel import bootstrap

    telemetry = bootstrap.current()
    return telemetry.shutdown(timeout) if telemetry is not None else True


def redact(text: str) -> str:
    """Return ``text`` with bot tokens, phone numbers and secrets replaced by ``[REDACTED:kind]``."""
    from crocotel.redaction import redact as _redact

    return _redact(text)


def __getattr__(name: str) -> object:
    """Load :class:`Telemetry` on first use, keeping ``import crocotel`` light."""
    if name == "Telemetry":
        from crocotel.bootstrap import Telemetry

        return Telemetry
    raise AttributeError(f"module 'crocotel' has no attribute {name!r}")


__all__ = ["ConfigError", "Settings", "Telemetry", "__version__", "configure", "redact", "shutdown"]
