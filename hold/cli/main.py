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
COMMANDS = ["reconstruct", "batch", "preprocess", "synth", "train", "eval", "bench", "info"]


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


def keep_large_allocations_mapped() -> bool:
    """Tell glibc malloc to serve large blocks from the heap and keep freed memory mapped.

    By default glibc maps every block above ~32 MB afresh and unmaps it on free, so each large
    tensor (a 2^18 × 32 encoding is 33 MB) pays a page fault per 4 kB on first touch — about
    20 % of a hash-grid forward on this 2-core machine. A `hold-fast` process owns its memory,
    so it trades prompt release to the OS for reuse. Library users can do the same with
    MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_. Returns whether it applied (glibc only).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3  # mallopt parameters (malloc.h)
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


def main(argv: list[str] | None = None) -> int:
    keep_large_allocations_mapped()
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
