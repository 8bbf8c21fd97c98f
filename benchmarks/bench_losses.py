"""In-batch contrastive loss on CPU: negsample's chunked info_nce (NT-Xent form) vs
pytorch-metric-learning's NTXentLoss, batch 4096, d 256: forward+backward time and peak memory.

    .venv/bin/python benchmarks/bench_losses.py [--batch 4096] [--dim 256] [--repeats 3]

Each variant runs in its own subprocess so its peak RSS (ru_maxrss) is its own; the inputs are
identical (same seed) and the losses are checked to agree to 1e-4.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def worker(name, batch, dim, repeats, chunk):
    import torch

    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(batch, dim, generator=g)
    p = a + 0.3 * torch.randn(batch, dim, generator=g)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if name == "pml":
        from pytorch_metric_learning.losses import NTXentLoss

        fn = NTXentLoss(temperature=0.1)
        labels = torch.cat([torch.arange(batch), torch.arange(batch)])

        def step(a_, p_):
            return fn(torch.cat([a_, p_]), labels)
    else:
        from negsample.losses import info_nce

        def step(a_, p_):
            return info_nce(a_, p_, None, 0.1, normalize=True, symmetric=True, chunk_size=chunk)
    times = []
    value = None
    for _ in range(repeats):
        a_ = a.clone().requires_grad_(True)
        p_ = p.clone().requires_grad_(True)
        t0 = time.perf_counter()
        loss = step(a_, p_)
        loss.backward()
        times.append(time.perf_counter() - t0)
        value = float(loss.detach())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("RESULT " + json.dumps({"name": name, "seconds": min(times), "loss": value,
                                  "peak_rss_mb": peak / 1024, "extra_rss_mb": (peak - base_rss) / 1024}))


def run_one(name, batch, dim, repeats, chunk):
    out = subprocess.run([sys.executable, __file__, "--worker", name, "--batch", str(batch), "--dim", str(dim),
                          "--repeats", str(repeats), "--chunk", str(chunk)], capture_output=True, text=True)
    if out.returncode != 0:
        err = [ln for ln in out.stderr.splitlines() if "Error" in ln or "error" in ln]
        return {"name": name, "failed": (err[-1] if err else out.stderr[-300:]).strip()[:300]}
    return json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, nargs="+", default=[256, 512, 4096])
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4096, help=argparse.SUPPRESS)
    ap.add_argument("--worker")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.batch, args.dim, args.repeats, args.chunk)
    print(f"in-batch NT-Xent (2B anchors, 2B - 2 negatives each), d {args.dim}, CPU, 2 threads, chunk {args.chunk}")
    for batch in args.batches:
        res = {name: run_one(name, batch, args.dim, args.repeats, args.chunk) for name in ("negsample", "pml")}
        for name, r in res.items():
            if "failed" in r:
                print(f"  batch {batch:>5} {name:<10} FAILED: {r['failed']}")
            else:
                print(f"  batch {batch:>5} {name:<10} fwd+bwd {r['seconds']:7.3f} s  peak RSS {r['peak_rss_mb']:6.0f} MB "
                      f"(+{r['extra_rss_mb']:.0f} MB over the inputs)  loss {r['loss']:.6f}")
        ours, theirs = res["negsample"], res["pml"]
        if "failed" not in ours and "failed" not in theirs:
            print(f"  batch {batch:>5} ratios pml/ours: time {theirs['seconds'] / ours['seconds']:.2f}x, extra memory "
                  f"{theirs['extra_rss_mb'] / max(ours['extra_rss_mb'], 1e-9):.2f}x, |loss difference| "
                  f"{abs(ours['loss'] - theirs['loss']):.2e}")


if __name__ == "__main__":
    main()
