"""The ``omnicore`` command: a thin shell over the public API."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from omnicore._errors import OmnicoreError
from omnicore._version import __version__

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnicore", description="Omnichannel retail customer operations.")
    parser.add_argument("--version", action="version", version=f"omnicore {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="run the whole pipeline on a synthetic retailer and print a report",
        description="Generate a synthetic retailer with known ground truth, load it into a store and run "
        "every capability on it, printing a readable report.",
    )
    demo.add_argument("--customers", type=int, default=20_000, help="number of customers (default 20000)")
    demo.add_argument(
        "--store",
        default=None,
        help="store URL (default: a new SQLite file in a temporary directory)",
    )
    demo.add_argument("--tenant", default="demo", help="tenant to write under (default 'demo')")
    demo.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    demo.add_argument("--no-progress", action="store_true", help="never show progress bars")
    demo.add_argument(
        "--spark",
        action="store_true",
        help="also run the Spark step on a local Spark session (omnicore[spark])",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``omnicore`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.command == "demo":
            return _demo(args)
    except OmnicoreError as exc:
        print(f"omnicore: error: {exc}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - argparse rejects unknown commands


def _demo(args: argparse.Namespace) -> int:
    from omnicore._demo._runner import run_demo
    from omnicore.storage import open_store

    if args.customers < 100:
        print("omnicore: error: --customers must be at least 100", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="omnicore-demo-") as scratch:
        url = args.store or f"sqlite:///{Path(scratch) / 'omnicore-demo.db'}"
        print(f"omnicore {__version__} demo: {args.customers:,} customers, seed {args.seed}, store {url}\n")
        with open_store(url, tenant=args.tenant) as store:
            run_demo(
                store,
                n_customers=args.customers,
                seed=args.seed,
                show_progress=False if args.no_progress else None,
                out=sys.stdout,
                spark=args.spark,
            )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
