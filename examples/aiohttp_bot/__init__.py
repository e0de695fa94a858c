"""A minimal echo bot on plain aiohttp, written the way a user would, with no telemetry code.

Run it with ``python -m examples.aiohttp_bot`` (settings from the environment,
see ``__main__.py``); crocotel instruments it from the outside.
"""
