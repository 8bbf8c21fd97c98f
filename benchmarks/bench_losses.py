"""In-batch contrastive losses on CPU, negsample's chunked forms vs pytorch-metric-learning:
forward+backward time and peak memory.

- ``--loss ntxent``: info_nce(..., symmetric=True) vs NTXentLoss (2B anchors, 2B - 2 negatives).
- ``--loss supcon``: metric-form supcon_loss(embeddings, labels) vs SupConLoss (B anchors with
  ``--classes`` labels, several positives per class).

    .venv/bin/python benchmarks/bench_losses.py [--loss ntxent supcon] [--batches 256 512 4096] [--dim 256]

Each variant runs in its own subprocess so its peak RSS (ru_maxrss) is its own; the inputs are
identical (same seed) and the printed losses can be compared.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def worker(name, batch, dim, repeats, chunk, loss_kind="ntxent", classes=100):
    import torch

    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(batch, dim, generator=g)
    p = a + 0.3 * torch.randn(batch, dim, generator=g)
    labels_sc = torch.randint(0, classes, (batch,), generator=g)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if loss_kind == "supcon":
        if name == "pml":
            from pytorch_metric_learning.losses import SupConLoss

            fn = SupConLoss(temperature=0.1)

            def step(a_, p_):
                return fn(a_, labels_sc)
        else:
            from negsample.losses import supcon_loss

            def step(a_, p_):
                return supcon_loss(a_, labels_sc, temperature=0.1, chunk_size=chunk)
    elif name == "pml":
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


def run_one(name, batch, dim, repeats, chunk, loss_kind="ntxent", classes=100):
    out = subprocess.run([sys.executable, __file__, "--worker", name, "--batch", str(batch), "--dim", str(dim),
                          "--repeats", str(repeats), "--chunk", str(chunk), "--loss", loss_kind,
                          "--classes", str(classes)], capture_output=True, text=True)
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
    ap.add_argument("--loss", nargs="+", choices=("ntxent", "supcon"), default=["ntxent"])
    ap.add_argument("--classes", type=int, default=100, help="supcon: number of labels")
    ap.add_argument("--batch", type=int, default=4096, help=argparse.SUPPRESS)
    ap.add_argument("--worker")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.batch, args.dim, args.repeats, args.chunk, args.loss[0], args.classes)
    for kind in args.loss:
        if kind == "ntxent":
            print(f"in-batch NT-Xent (2B anchors, 2B - 2 negatives each), d {args.dim}, CPU, 2 threads, chunk {args.chunk}")
        else:
            print(f"SupCon, metric form (B anchors, {args.classes} labels), d {args.dim}, CPU, 2 threads, chunk {args.chunk}")
        compare(kind, args)


def compare(kind, args):
    for batch in args.batches:
        res = {name: run_one(name, batch, args.dim, args.repeats, args.chunk, kind, args.classes)
               for name in ("negsample", "pml")}
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
