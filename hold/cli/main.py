"""`hold-fast`: the command-line entry point. Argument parsing only; each subcommand lives in
hold/cli/<name>_cmd.py with add_parser(subparsers) and run(args) -> exit status."""

from __future__ import annotations

import argparse
import importlib
import sys

from hold import __version__
from hold.io.errors import InputError

# Subcommands in the order `hold-fast --help` lists them; a module that is not present yet is
# skipped, so the CLI works while the package grows.
COMMANDS = ["reconstruct", "preprocess", "synth", "train", "eval", "bench", "info"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hold-fast",
        description="Reconstruct a hand and the object it holds from one RGB video.",
    )
    parser.add_argument("--version", action="version", version=f"hold-fast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"hold.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"hold.cli.{name}_cmd":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except InputError as exc:
        print(f"hold-fast {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hold-fast {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
