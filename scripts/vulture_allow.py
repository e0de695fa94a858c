# Names vulture cannot see used: entry points, stdlib hooks, public API.

from crocotel.logs.handler import StdoutHandler
from crocotel.logs.otlp import OtlpHandler

StdoutHandler.handle  # logging.Handler.handle, called by the logging machinery
OtlpHandler.handle
