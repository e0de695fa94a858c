"""The python-telegram-bot instrumentor wraps where methods are defined and undoes itself exactly."""

from __future__ import annotations

from opentelemetry import metrics
from opentelemetry.sdk.trace import TracerProvider

from crocotel.instrumentation.python_telegram_bot import PythonTelegramBotInstrumentor


def test_uninstrument_restores_every_class_dict_exactly() -> None:
    from telegram.ext import Application, BaseHandler, CommandHandler, Job
    from telegram.request import BaseRequest, HTTPXRequest

    classes = (Application, BaseHandler, CommandHandler, Job, BaseRequest, HTTPXRequest)
    before = [dict(cls.__dict__) for cls in classes]
    instrumentor = PythonTelegramBotInstrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider(), meter_provider=metrics.NoOpMeterProvider())
    try:
        patched = [
            name
            for cls, old in zip(classes, before, strict=True)
            for name in old
            if cls.__dict__[name] is not old[name]
        ]
        assert sorted(patched) == [
            "do_request",
            "handle_update",
            "post",
            "process_error",
            "process_update",
            "run",
        ]
        assert "handle_update" not in CommandHandler.__dict__  # subclasses inherit the one wrapper
    finally:
        instrumentor.uninstrument()
    for cls, old in zip(classes, before, strict=True):
        now = dict(cls.__dict__)
        assert now.keys() == old.keys(), cls
        assert all(now[name] is old[name] for name in old), cls
