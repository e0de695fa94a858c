"""Example bots used by crocotel's docs, tests and demo; none contains telemetry code."""
