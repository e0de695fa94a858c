"""crocotel: an OpenTelemetry distribution for Telegram bots."""

from crocotel._version import __version__

__all__ = ["__version__"]
