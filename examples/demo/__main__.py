"""``python -m examples.demo [--updates N]``: what ``bash scripts/demo`` runs, from a checkout."""

from __future__ import annotations

import argparse
import sys

from examples.demo import run_demo


def main() -> int:
    """Parse the one option and run the demo; the exit status is the bot's."""
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo",
        description="crocbot under crocotel against a local Bot API stand-in, with synthetic users",
    )
    parser.add_argument("--updates", type=int, default=20, help="stop after this many updates (default 20)")
    return run_demo(updates=parser.parse_args().updates)


if __name__ == "__main__":
    sys.exit(main())
