"""Alias-method sampling speed: negsample.AliasTable vs numpy Generator.choice(p=...) vs
torch.multinomial (with replacement), Zipf(1.0) over 10^3, 10^5 and 10^7 categories.

    .venv/bin/python benchmarks/bench_alias.py [--samples 10000000] [--repeats 3]

Each method draws the same number of samples (best of --repeats, fresh output each time);
table/setup cost is reported separately. Prints samples/s and the ratios.
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from negsample.distributions import AliasTable


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10**3, 10**5, 10**7])
    args = ap.parse_args()
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:  # optional
        torch = None

    m = args.samples
    print(f"machine: {platform.processor() or platform.machine()}, numpy {np.__version__}"
          + (f", torch {torch.__version__} (1 thread)" if torch else ""))
    print(f"{m:,} draws per method, best of {args.repeats}\n")
    header = f"{'categories':>12} {'build s':>8} {'alias M/s':>10} {'choice M/s':>11} {'torch M/s':>10} {'alias/choice':>13} {'alias/torch':>12}"
    print(header)
    print("-" * len(header))
    rows = []
    AliasTable([1.0, 2.0]).sample(10, 0)  # compile outside the timings
    for n in args.sizes:
        w = 1.0 / np.arange(1, n + 1)
        t0 = time.perf_counter()
        table = AliasTable(w)
        table.sample(1, 0)
        build = time.perf_counter() - t0
        rng = np.random.default_rng(0)
        t_alias = best_time(lambda: table.sample(m, rng), args.repeats)
        p = w / w.sum()
        t_choice = best_time(lambda: rng.choice(n, size=m, replace=True, p=p), args.repeats)
        t_torch = float("nan")
        if torch is not None:
            tp = torch.from_numpy(p)
            gen = torch.Generator().manual_seed(0)
            t_torch = best_time(lambda: torch.multinomial(tp, m, replacement=True, generator=gen), args.repeats)
        rows.append((n, t_alias))
        print(f"{n:>12,} {build:>8.3f} {m / t_alias / 1e6:>10.1f} {m / t_choice / 1e6:>11.1f} "
              f"{m / t_torch / 1e6:>10.1f} {t_choice / t_alias:>12.1f}x {t_torch / t_alias:>11.1f}x")
    if len(rows) > 1:
        (n0, t0_), (n1, t1_) = rows[0], rows[-1]
        print(f"\nflatness: per-draw cost at {n1:,} categories / at {n0:,} = {t1_ / t0_:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
