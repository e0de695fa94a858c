# ruff: noqa  (a vulture allow-list: bare expressions are the point)
# Names vulture cannot see used: entry points, framework hooks, documentation fields.
# (vulture scans crocotel/, tests/, benchmarks/ and examples/ together with this file.)

from crocotel import config, configurator, distro, exposition, processors
from crocotel.instrumentation import _ptb, aiogram, python_telegram_bot
from crocotel.logs.handler import StdoutHandler
from crocotel.logs.otlp import OtlpHandler
from crocotel.redaction import rules
from crocotel.testing import otlp

# entry points (pyproject.toml) and the methods opentelemetry-instrument calls on them
configurator.CrocotelConfigurator
distro.CrocotelDistro._configure
distro.CrocotelDistro.load_instrumentor
aiogram.AiogramInstrumentor.instrumentation_dependencies
aiogram.AiogramInstrumentor._instrument
aiogram.AiogramInstrumentor._uninstrument
python_telegram_bot.PythonTelegramBotInstrumentor.instrumentation_dependencies
python_telegram_bot.PythonTelegramBotInstrumentor._instrument
python_telegram_bot.PythonTelegramBotInstrumentor._uninstrument
# python-telegram-bot wrappers, looked up by name in python_telegram_bot._targets()
_ptb.PtbTracer.process_update
_ptb.PtbTracer.process_error
_ptb.PtbTracer.run_job
_ptb.PtbTracer.do_request

# SDK processor hooks, and the result field the SDK's exporter self-metrics read
processors._EncodingSpanProcessor.on_start
processors._EncodingSpanProcessor.on_start.parent_context
processors._EncodingLogProcessor.on_emit
error_attrs

# module __getattr__ (PEP 562) keeps imports lazy
__getattr__

# http.server and logging hooks, called by the standard library
exposition.ExpositionReader._receive_metrics  # MetricReader hook, called by the SDK
otlp._Handler.do_POST
otlp._Handler.log_message
otlp._Handler.protocol_version
otlp._Handler.close_connection
otlp._Server.daemon_threads
StdoutHandler.handle
OtlpHandler.handle

# RE2 option attributes, read by the C++ library
_re2_options: object
_re2_options.log_errors  # type: ignore[attr-defined]
_re2_options.case_sensitive  # type: ignore[attr-defined]
_re2_options.never_capture  # type: ignore[attr-defined]

# documentation fields: rendered in docs and kept next to the data they explain
config.Variable.meaning
rules.Rule.note

# OpenTelemetry API globals that reset_telemetry() clears (read by the API, not by us)
_otel_globals: object
_otel_globals._TRACER_PROVIDER_SET_ONCE  # type: ignore[attr-defined]
_otel_globals._TRACER_PROVIDER  # type: ignore[attr-defined]
_otel_globals._METER_PROVIDER_SET_ONCE  # type: ignore[attr-defined]
_otel_globals._METER_PROVIDER  # type: ignore[attr-defined]
_otel_globals._LOGGER_PROVIDER_SET_ONCE  # type: ignore[attr-defined]
_otel_globals._LOGGER_PROVIDER  # type: ignore[attr-defined]

# functools convention read by inspect and by the guard's own uninstall
_guarded_init: object
_guarded_init.__wrapped__  # type: ignore[attr-defined]

# the SDK span's fields and hooks, set and overridden by crocotel.spans (read by the SDK's Span)
_sdk_span: object
_sdk_span._context  # type: ignore[attr-defined]
_sdk_span._kind  # type: ignore[attr-defined]
_sdk_span._instrumentation_info  # type: ignore[attr-defined]
_sdk_span._parent  # type: ignore[attr-defined]
_sdk_span._trace_config  # type: ignore[attr-defined]
_sdk_span._record_exception  # type: ignore[attr-defined]
_sdk_span._set_status_on_exception  # type: ignore[attr-defined]
_sdk_span._add_event  # type: ignore[attr-defined]
_sdk_span._add_link  # type: ignore[attr-defined]
_sdk_span._immutable  # type: ignore[attr-defined]
_sdk_span._events  # type: ignore[attr-defined]
_sdk_span._links  # type: ignore[attr-defined]
