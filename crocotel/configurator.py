"""The ``opentelemetry_configurator`` entry point: validate, build, or exit in strict mode."""

from __future__ import annotations

import os
import sys
from typing import Any

from crocotel import bootstrap, diagnostics
from crocotel.config import ConfigError

__all__ = ["EXIT_CONFIG", "CrocotelConfigurator"]

EXIT_CONFIG = 78
"""Exit status in strict mode for invalid configuration (``EX_CONFIG`` from sysexits.h)."""


class CrocotelConfigurator:
    """Called once by ``opentelemetry-instrument`` before the app starts."""

    def configure(self, **_kwargs: Any) -> None:
        """Build telemetry; a failure never stops the bot unless ``CROCOTEL_STRICT`` asks."""
        try:
            bootstrap.configure()
        except ConfigError:
            diagnostics.problem(
                f"crocotel: CROCOTEL_STRICT=true and the configuration is invalid: exiting ({EXIT_CONFIG})"
            )
            sys.stderr.flush()
            os._exit(EXIT_CONFIG)
        except Exception as exc:  # the bot must start even if telemetry cannot
            diagnostics.problem(
                f"crocotel: telemetry setup failed ({type(exc).__name__}); the bot runs without it"
            )
