"""The ``negsample`` command: one entry point, a subcommand per application.

Each application module exposes ``add_cli(subparsers)``; it registers its parser and sets
``func`` (called with the parsed args, returning an exit code). Bad input surfaces as
``NegsampleError`` (or an OSError on files) and is printed as one line, exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ._common import NegsampleError

# subcommand -> module providing add_cli(subparsers)
APPLICATIONS = {
    "demo": "negsample.demo",
    "word2vec": "negsample.word2vec_cli",
    "graph": "negsample.graph",
    "recsys": "negsample.recsys",
    "mine": "negsample.mining",
    "kernels": "negsample.kernels.native",
}


def _command(argv) -> str | None:
    """The subcommand named on the command line (the first non-option argument), if any."""
    for a in argv:
        if not a.startswith("-"):
            return a if a in APPLICATIONS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only`` just that application's module is imported (so ``negsample
    word2vec train`` never imports the graph/recsys/mining modules, nor numba through them)."""
    parser = argparse.ArgumentParser(
        prog="negsample",
        description="Negative sampling: word2vec, graph and recsys embeddings, hard-negative mining.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"negsample {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in APPLICATIONS.items():
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # application not built into this version
                continue
            raise
        module.add_cli(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_command(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except NegsampleError as exc:
        print(f"negsample: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"negsample: error: cannot read {exc.filename!r}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("negsample: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
