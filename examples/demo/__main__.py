"""``python -m examples.demo [--updates N] [--framework aiogram|ptb]``: what ``bash scripts/demo`` runs."""

from __future__ import annotations

import argparse
import sys

from examples.demo import BOTS, run_demo


def main() -> int:
    """Parse the options and run the demo; the exit status is the bot's."""
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo",
        description="an example bot under crocotel against a local Bot API stand-in, with synthetic users",
    )
    parser.add_argument("--updates", type=int, default=20, help="stop after this many updates (default 20)")
    parser.add_argument(
        "--framework",
        choices=sorted(BOTS),
        default="aiogram",
        help="aiogram runs examples/crocbot, ptb runs examples/ptb_bot (python-telegram-bot)",
    )
    args = parser.parse_args()
    return run_demo(updates=args.updates, framework=args.framework)


if __name__ == "__main__":
    sys.exit(main())
