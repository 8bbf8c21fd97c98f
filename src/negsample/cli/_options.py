"""Option helpers shared by every subcommand, so the same option means the same thing
everywhere (docs/design.md, "CLI convention"):

- ``-o/--output PATH``            the file a command writes (checked before any work);
- ``--negative K``                negatives per positive (a count, everywhere);
- ``--ns-exponent ALPHA``         noise q ∝ count^alpha (word counts, degrees, popularity);
- ``--negatives MODE``            the sampling mode (shared | per-example | ...), where it applies;
- ``--seed``, ``--threads``, ``--json``, ``--quiet`` on every command that trains or evaluates.

Defaults are shown in ``--help`` (``HelpFormatter``); every option and positional has a help line.
``print_json`` prints strict JSON (NaN and infinities become null).
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after each option's help, and keeps line breaks of descriptions."""

    def _get_help_string(self, action):
        h = action.help or ""
        if "%(default)" in h or action.default is argparse.SUPPRESS or action.default is None \
                or action.default is False or not action.option_strings:
            return h
        return h + " (default: %(default)s)"


def subparser(sub, name, help, **kwargs):
    """A subcommand parser with the shared formatter."""
    return sub.add_parser(name, help=help, description=kwargs.pop("description", help),
                          formatter_class=HelpFormatter, **kwargs)


def add_output(p, help="file to write", required=True, default=None):
    p.add_argument("-o", "--output", required=required, default=default, metavar="PATH", help=help)


def add_adaptive(p):
    """--candidates, --candidate-temperature, --adversarial-temperature (negatives that adapt to
    the model; need --negatives per-example)."""
    p.add_argument("--candidates", type=int, default=None, metavar="M",
                   help="dynamic negatives: draw M filtered candidates per positive and keep the --negative the "
                        "model scores highest (needs --negatives per-example)")
    p.add_argument("--candidate-temperature", type=float, default=None, metavar="T",
                   help="with --candidates: draw the negatives with probability ∝ exp(score / T) instead")
    p.add_argument("--adversarial-temperature", type=float, default=None, metavar="ALPHA",
                   help="self-adversarial weights: scale each negative's gradient by softmax(ALPHA score) "
                        "over its group (needs --negatives per-example)")


def adaptive_kwargs(args) -> dict:
    return {k: v for k, v in (("candidates", getattr(args, "candidates", None)),
                              ("candidate_temperature", getattr(args, "candidate_temperature", None)),
                              ("adversarial_temperature", getattr(args, "adversarial_temperature", None)))
            if v is not None}


def add_negatives(p, negative=5, ns_exponent=0.75, modes=None, mode_default=None, noise_of="count",
                  mode_help=None, negative_help="negatives per positive"):
    p.add_argument("--negative", type=int, default=negative, metavar="K", help=negative_help)
    p.add_argument("--ns-exponent", type=float, default=ns_exponent, metavar="ALPHA",
                   help=f"noise distribution q ∝ {noise_of}^ALPHA (0: uniform over seen ids)")
    if modes:
        p.add_argument("--negatives", choices=list(modes), default=mode_default or modes[0],
                       help=mode_help or "how negatives are drawn")


def add_run_options(p, seed=1, threads=2, with_threads=True, with_seed=True):
    """--seed, --threads, --json, --quiet."""
    if with_seed:
        p.add_argument("--seed", type=int, default=seed, help="random seed (runs are reproducible with --threads 1)")
    if with_threads:
        p.add_argument("--threads", type=int, default=threads, help="worker threads")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")


def _clean(x):
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def to_json(obj) -> str:
    """Strict JSON: NaN / inf -> null, numpy scalars and arrays -> Python numbers and lists."""
    return json.dumps(_clean(obj), allow_nan=False)


def print_json(obj, stream=None) -> None:
    print(to_json(obj), file=stream if stream is not None else sys.stdout)


def say(args, message: str) -> None:
    """A summary line on stderr unless --quiet (or --json, whose stdout is the result)."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def format_loss(x):
    """A final loss for a one-line summary (None when no epoch ran)."""
    return "n/a (no epoch ran)" if x is None else f"{x:.4f}"
