"""crocotel's logs: JSON/text/logfmt lines with trace ids on stdout, and the OTLP log bridge.

The bootstrap calls :func:`install` once with the validated settings; the formatter and
handler classes are public for applications that wire logging themselves.
"""

from crocotel.logs.context import current_ids
from crocotel.logs.formatters import CrocotelFormatter, JsonFormatter, LogfmtFormatter, TextFormatter
from crocotel.logs.handler import StdoutHandler
from crocotel.logs.install import install, uninstall
from crocotel.logs.otlp import OtlpHandler

__all__ = [
    "CrocotelFormatter",
    "JsonFormatter",
    "LogfmtFormatter",
    "OtlpHandler",
    "StdoutHandler",
    "TextFormatter",
    "current_ids",
    "install",
    "uninstall",
]
