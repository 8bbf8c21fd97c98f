"""The ``negsample`` command: one entry point, a subcommand per application.

The CLI only parses, calls the library and prints. Each ``negsample.cli.<app>`` module has
``add_cli(subparsers)``, which registers its parser (options from ``negsample.cli._options``)
and sets ``func`` (called with the parsed args, returning an exit code). Errors reach the user as
one line ``negsample: error: ...`` with exit status 2: bad input (``NegsampleError``), unreadable
files, a missing optional dependency (with the ``pip install`` that fixes it). Output piped into
a program that stops reading (``| head``) ends quietly.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .._common import NegsampleError

# subcommand -> module providing add_cli(subparsers); imported only when its command runs, so
# ``negsample word2vec train`` never imports the graph/recsys/mining modules, nor numba.
APPLICATIONS = {
    "demo": "negsample.cli.demo",
    "word2vec": "negsample.cli.word2vec",
    "graph": "negsample.cli.graph",
    "recsys": "negsample.cli.recsys",
    "mine": "negsample.cli.mine",
    "kg": "negsample.cli.kg",
    "hierarchy": "negsample.cli.hierarchy",
    "diagnose": "negsample.cli.diagnose",
    "plot": "negsample.cli.plot",
    "kernels": "negsample.cli.kernels",
}

# optional dependency (import name) -> the extra that installs it
EXTRAS = {
    "sklearn": "sklearn", "faiss": "faiss", "torch": "torch", "matplotlib": "plot", "pandas": "pandas",
    "pyarrow": "pandas", "sentence_transformers": "st", "datasets": "st", "networkx": "graph",
    "tqdm": "progress",
}


def _command(argv) -> str | None:
    """The subcommand named on the command line (the first non-option argument), if any."""
    for a in argv:
        if not a.startswith("-"):
            return a if a in APPLICATIONS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only`` just that application's module is imported."""
    from ._options import HelpFormatter

    parser = argparse.ArgumentParser(
        prog="negsample", formatter_class=HelpFormatter,
        description="Negative sampling made practical: word2vec, graph, knowledge-graph, hierarchy and "
                    "recommendation embeddings, hard-negative mining, diagnostics.")
    from .. import __version__
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


def _missing_dependency(exc: ImportError) -> str | None:
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name in EXTRAS:
        return (f"this command needs the optional dependency {name!r}: "
                f"pip install 'negsample[{EXTRAS[name]}]'")
    return None


def _terminate(signum, frame):  # noqa: ARG001
    """SIGTERM: unwind like an interrupt, so temporary files are removed and outputs stay whole."""
    raise KeyboardInterrupt


def _setup_logging(quiet: bool) -> None:
    """The library logs to the "negsample" logger; the CLI prints its records as
    ``negsample: message`` on stderr (warnings only with --quiet / --json)."""
    import logging

    logger = logging.getLogger("negsample")
    for h in list(logger.handlers):
        if getattr(h, "_negsample_cli", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._negsample_cli = True
    handler.setFormatter(logging.Formatter("negsample: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        try:
            signal.signal(signal.SIGTERM, _terminate)
        except (ValueError, OSError):  # not allowed here (embedded interpreter)
            pass
    try:
        parser = build_parser(only=_command(argv))
        args = parser.parse_args(argv)
        _setup_logging(bool(getattr(args, "quiet", False) or getattr(args, "json", False)))
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except NegsampleError as exc:
        print(f"negsample: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        hint = _missing_dependency(exc)
        if hint is None:
            raise
        print(f"negsample: error: {hint}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        print(f"negsample: error: cannot use {exc.filename!r}: {exc.strerror}", file=sys.stderr)
        return 2
    except MemoryError:
        print("negsample: error: out of memory (the input or the model is too large for this machine)",
              file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, without a traceback at exit
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141
    except KeyboardInterrupt:
        print("negsample: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
