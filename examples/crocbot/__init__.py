"""crocbot: an aiogram 3 bot written the way users write bots, with no telemetry code in it.

Commands ``/start`` and ``/help``, ``/quote`` (asks a slow external HTTP
service), ``/divide a b`` (fails on bad input: the error handler answers
``ValueError``, a division by zero is left to crash the update), and an echo
for any other text. Run it with ``python -m examples.crocbot``; the settings
come from the environment, see ``__main__.py``. crocotel instruments it from
the outside (``opentelemetry-instrument python -m examples.crocbot``).
"""
