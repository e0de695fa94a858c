"""An example python-telegram-bot (v20+) bot: crocbot's commands, a job-queue job, polling or webhook.

Run it with ``python -m examples.ptb_bot``; see ``__main__`` for its environment.
"""
