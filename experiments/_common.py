"""Shared plumbing of the experiments: where figures and tables go, how a table fragment is
written and spliced into docs/experiments.md, and a timer.

Every experiment script has ``run(scale, seed)`` (returns plain results), ``table(results)``
(a markdown fragment) and ``figure(results, path)``; ``main()`` runs the ``full`` scale and
writes ``docs/experiments/<name>.png`` and ``docs/experiments/<name>.md``. The tests import the
scripts and run the ``ci`` scale (tiny synthetic data) to check each experiment's core claim.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "experiments")
DOC = os.path.join(ROOT, "docs", "experiments.md")
SHARED = os.environ.get("NEGSAMPLE_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--scale", choices=["full", "ci"], default="full", help="full (docs) or ci (seconds, tiny data)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", default=OUT, help="directory for the figure, table and JSON results")
    return p


def fmt(x, digits=3):
    if isinstance(x, float):
        if abs(x) < 0.5 * 10 ** -digits:
            x = 0.0
        return f"{x:.{digits}f}"
    return str(x)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def slim(x, limit=64):
    """The results without long arrays (per-pair scatters, per-step curves) for the JSON file."""
    if isinstance(x, dict):
        return {k: slim(v, limit) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        if len(x) > limit:
            return f"<{len(x)} values omitted>"
        return [slim(v, limit) for v in x]
    return x


def write_outputs(name, results, table_md, figure_fn, out=OUT, seconds=None, command=None):
    """Write <out>/<name>.png, <name>.md (the table with the command and run time) and <name>.json."""
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, f"{name}.png")
    figure_fn(results, png)
    cmd = command or f".venv/bin/python experiments/{name}.py"
    footer = f"\n*Made by `{cmd}`" + (f" in {seconds:.0f} s" if seconds is not None else "") + \
        " (2-core machine shared with other work).*\n"
    with open(os.path.join(out, f"{name}.md"), "w") as fh:
        fh.write(table_md + footer)
    with open(os.path.join(out, f"{name}.json"), "w") as fh:
        json.dump(slim(results), fh, indent=1, default=float)
    return png


def splice(name, out=OUT, doc=DOC):
    """Replace the block between <!-- BEGIN name --> and <!-- END name --> in docs/experiments.md
    with the table fragment <out>/<name>.md."""
    with open(os.path.join(out, f"{name}.md")) as fh:
        fragment = fh.read().rstrip("\n")
    with open(doc) as fh:
        text = fh.read()
    pat = re.compile(rf"(<!-- BEGIN {re.escape(name)} -->).*?(<!-- END {re.escape(name)} -->)", re.S)
    if not pat.search(text):
        raise SystemExit(f"{doc} has no <!-- BEGIN {name} --> / <!-- END {name} --> block")
    text = pat.sub(lambda m: m.group(1) + "\n" + fragment + "\n" + m.group(2), text)
    with open(doc, "w") as fh:
        fh.write(text)


def main_for(name, run, table, figure, description, argv=None):
    args = parser(description).parse_args(argv)
    t0 = time.perf_counter()
    results = run(scale=args.scale, seed=args.seed)
    seconds = time.perf_counter() - t0
    md = table(results)
    png = write_outputs(name, results, md, figure, out=args.out, seconds=seconds,
                        command=f".venv/bin/python experiments/{name}.py" + (" --scale ci" if args.scale == "ci" else ""))
    print(md)
    print(f"wrote {png} ({seconds:.0f} s)", file=sys.stderr)
    return results
