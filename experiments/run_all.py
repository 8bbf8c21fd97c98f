"""Run every experiment and put its table into docs/experiments.md (``make experiments``).

    .venv/bin/python experiments/run_all.py                   # all, full scale (~25 min on 2 cores)
    .venv/bin/python experiments/run_all.py --only nce_mle    # one of them
    .venv/bin/python experiments/run_all.py --scale ci --out /tmp/exp   # seconds each, docs untouched

Each experiment runs in its own process (so one's threads and caches do not affect the next) and
writes docs/experiments/<name>.png, .md (its table) and .json; at full scale into the default
directory, the table then replaces the block between <!-- BEGIN name --> and <!-- END name -->
in docs/experiments.md.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _common  # noqa: E402

EXPERIMENTS = ("sgns_optimum", "nce_mle", "false_negatives", "hardness", "temperature", "window_size")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=EXPERIMENTS, help="run only these experiments")
    p.add_argument("--scale", choices=["full", "ci"], default="full", help="full (docs) or ci (seconds, tiny data)")
    p.add_argument("--out", default=_common.OUT, help="directory for figures, tables and JSON results")
    args = p.parse_args(argv)
    splice = args.scale == "full" and os.path.abspath(args.out) == os.path.abspath(_common.OUT)
    total = time.perf_counter()
    for name in args.only or EXPERIMENTS:
        t0 = time.perf_counter()
        print(f"== {name}", file=sys.stderr, flush=True)
        rc = subprocess.run([sys.executable, os.path.join(HERE, f"{name}.py"), "--scale", args.scale, "--out",
                             args.out], stdout=subprocess.DEVNULL).returncode
        if rc:
            print(f"experiment {name} failed (exit {rc})", file=sys.stderr)
            return rc
        if splice:
            _common.splice(name)
        print(f"   {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"all done in {time.perf_counter() - total:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
