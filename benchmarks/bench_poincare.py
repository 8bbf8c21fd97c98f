"""Poincaré embeddings of WordNet: negsample's PoincareModel against gensim's PoincareModel in
one run, same dimension, negatives and epochs (plus the same burn-in epochs), reconstruction
mean rank and MAP of the closure computed by one evaluator (negsample.hyperbolic.reconstruction)
for both models; gensim's own ReconstructionEvaluation is printed too (it counts the node
itself as a closer non-ancestor, so its ranks are ours + 1).

    .venv/bin/python benchmarks/bench_poincare.py [--dim 10] [--negative 10] [--epochs 50] [--threads 2]
        [--noun] [--noun-epochs 50] [--noun-lr 0.25] [--gensim-noun-epochs 1] [--plot benchmarks/results/poincare-mammals-2d.png]

Part 1: the mammal closure (1,182 nodes, 6,542 pairs), ours with 1 and 2 threads, gensim at its
default learning rate (0.1) and at ours. Part 2 (--noun): the full noun closure (82,115 nodes,
743,241 pairs) at dimension 10, ours only (gensim is timed on --gensim-noun-epochs epochs to
extrapolate). Part 3: a 2-D embedding of the mammals, plotted (needs matplotlib).
Data: $NEGSAMPLE_SHARED_DATA/hierarchy (default ../shared/data/hierarchy).
"""
from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.environ.get("NEGSAMPLE_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data")),
                    "hierarchy")


def gensim_model(h, dim, negative, epochs, alpha, burn_in, seed=0):
    from gensim.models.poincare import PoincareModel as GensimPoincare

    relations = [(h.names[c], h.names[a]) for c, a in h.pairs]
    t0 = time.perf_counter()
    g = GensimPoincare(relations, size=dim, negative=negative, alpha=alpha, burn_in=burn_in,
                       burn_in_alpha=alpha / 10, seed=seed, workers=1)
    g.train(epochs=epochs, batch_size=10, print_every=10**9)
    return g, time.perf_counter() - t0


def gensim_vectors(g, h):
    return np.array([g.kv.get_vector(nm) for nm in h.names])


def main():
    from negsample.hyperbolic import PoincareModel, load_hierarchy, plot_embedding, reconstruction

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--negative", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--burn-in", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.5, help="our learning rate (PoincareModel's default)")
    ap.add_argument("--noise", choices=["uniform", "frequency"], default="uniform", help="ours: negatives after the burn-in")
    ap.add_argument("--burn-in-noise", choices=["uniform", "frequency"], default="frequency",
                    help="ours: negatives during the burn-in (the paper: frequency, then uniform)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-gensim", action="store_true")
    ap.add_argument("--noun", action="store_true", help="also train on the full noun closure (ours)")
    ap.add_argument("--noun-dim", type=int, default=10)
    ap.add_argument("--noun-negative", type=int, default=50)
    ap.add_argument("--noun-epochs", type=int, default=50)
    ap.add_argument("--noun-lr", type=float, default=0.25)
    ap.add_argument("--gensim-noun-epochs", type=int, default=0, help="time gensim on this many noun epochs")
    ap.add_argument("--plot", default=os.path.join(HERE, "results", "poincare-mammals-2d.png"))
    args = ap.parse_args()
    logging.getLogger("gensim").setLevel(logging.WARNING)

    mam = load_hierarchy(os.path.join(DATA, "wordnet-mammal-closure.tsv"))
    print(f"mammal closure: {mam.stats()}; dim {args.dim}, negative {args.negative}, epochs {args.epochs} "
          f"(+{args.burn_in} burn-in); ours: noise {args.noise} after a {args.burn_in_noise} burn-in; machine "
          f"{os.cpu_count()} cores", flush=True)
    PoincareModel(dim=2, negative=2, epochs=1, burn_in=0, threads=args.threads).fit(mam)  # compile outside timings
    rows = []
    for threads in (1, args.threads):
        m = PoincareModel(dim=args.dim, negative=args.negative, epochs=args.epochs, burn_in=args.burn_in, lr=args.lr,
                          noise=args.noise, burn_in_noise=args.burn_in_noise, threads=threads, seed=args.seed).fit(mam)
        rows.append((f"ours lr {args.lr} threads {threads}", m.stats_["train_seconds"],
                     reconstruction(m.vectors_, mam, threads=args.threads), None))
        if args.threads == 1:
            break
    if not args.skip_gensim:
        for alpha in (0.1, args.lr):
            g, secs = gensim_model(mam, args.dim, args.negative, args.epochs, alpha, args.burn_in)
            ours_eval = reconstruction(gensim_vectors(g, mam), mam, threads=args.threads)
            from gensim.models.poincare import ReconstructionEvaluation

            tmp = os.path.join(HERE, "results", ".mammal-pairs.tsv")  # gensim's evaluator wants no header line
            with open(tmp, "w") as fh:
                fh.writelines(f"{mam.names[c]}\t{mam.names[a]}\n" for c, a in mam.pairs)
            own = ReconstructionEvaluation(tmp, g.kv).evaluate()
            os.remove(tmp)
            rows.append((f"gensim alpha {alpha}", secs, ours_eval, own))
    best_gensim = None
    for name, secs, ev, own in rows:
        extra = f"  (gensim's evaluator: mean rank {own['mean_rank']:.2f}, MAP {own['MAP']:.4f})" if own else ""
        print(f"  {name:<28} train {secs:8.2f} s   mean rank {ev['mean_rank']:7.2f}   MAP {ev['map']:.4f}{extra}")
        if name.startswith("gensim") and (best_gensim is None or ev["map"] > best_gensim[2]["map"]):
            best_gensim = (name, secs, ev)
    if best_gensim is not None:
        ours = [r for r in rows if r[0].startswith("ours")][-1]
        print(f"  speed-up of ours ({ours[0]}) over {best_gensim[0]}: {best_gensim[1] / ours[1]:.1f}x; "
              f"MAP difference {ours[2]['map'] - best_gensim[2]['map']:+.4f}", flush=True)

    if args.noun:
        noun = load_hierarchy(os.path.join(DATA, "wordnet-noun-closure.tsv.xz"))
        print(f"\nnoun closure: {noun.stats()}; dim {args.noun_dim}, negative {args.noun_negative}, "
              f"epochs {args.noun_epochs} (+{args.burn_in} burn-in), lr {args.noun_lr}, {args.threads} threads",
              flush=True)
        m = PoincareModel(dim=args.noun_dim, negative=args.noun_negative, epochs=args.noun_epochs,
                          burn_in=args.burn_in, lr=args.noun_lr, noise=args.noise, burn_in_noise=args.burn_in_noise,
                          threads=args.threads, seed=args.seed)
        m.fit(noun, progress=True)
        ev = reconstruction(m.vectors_, noun, threads=args.threads)
        print(f"  ours train {m.stats_['train_seconds']:.1f} s ({m.stats_['pairs_per_second']:,.0f} pairs/s), "
              f"eval {ev['seconds']:.1f} s: mean rank {ev['mean_rank']:.2f}, MAP {ev['map']:.4f} "
              f"over {ev['nodes']} nodes / {ev['pairs']} pairs", flush=True)
        if args.gensim_noun_epochs:
            g, secs = gensim_model(noun, args.noun_dim, args.noun_negative, args.gensim_noun_epochs, 0.1, 0)
            per_epoch = secs / args.gensim_noun_epochs
            ours_per_epoch = m.stats_["train_seconds"] / (args.noun_epochs + args.burn_in)
            print(f"  gensim: {per_epoch:.1f} s per epoch (ours {ours_per_epoch:.2f} s per epoch, "
                  f"{per_epoch / ours_per_epoch:.0f}x); our {args.noun_epochs + args.burn_in} epochs would take "
                  f"gensim {per_epoch * (args.noun_epochs + args.burn_in) / 3600:.1f} h", flush=True)

    if args.plot:
        m2 = PoincareModel(dim=2, negative=args.negative, epochs=max(args.epochs, 100), burn_in=args.burn_in,
                           lr=args.lr, noise=args.noise, burn_in_noise=args.burn_in_noise, threads=args.threads,
                           seed=args.seed).fit(mam)
        ev2 = reconstruction(m2.vectors_, mam, threads=args.threads)
        label = ["mammal.n.01", "placental.n.01", "carnivore.n.01", "primate.n.02", "ungulate.n.01", "rodent.n.01",
                 "feline.n.01", "canine.n.02", "even-toed_ungulate.n.01", "odd-toed_ungulate.n.01", "whale.n.02",
                 "bat.n.01", "marsupial.n.01", "monotreme.n.01", "aquatic_mammal.n.01", "dog.n.01", "cat.n.01",
                 "horse.n.01", "bovid.n.01", "deer.n.01", "monkey.n.01", "ape.n.01", "rabbit.n.01", "elephant.n.01"]
        try:
            plot_embedding(m2.vectors_, mam.names, args.plot, hierarchy=mam, label=label,
                           title=f"WordNet mammals in the Poincaré disc (negsample, dim 2; MAP {ev2['map']:.3f}, "
                                 f"mean rank {ev2['mean_rank']:.1f})")
            print(f"\n2-D mammal embedding: MAP {ev2['map']:.4f}, mean rank {ev2['mean_rank']:.2f}; plot {args.plot}")
        except ImportError:
            print("\nmatplotlib is not installed: no plot (pip install 'negsample[plot]')")


if __name__ == "__main__":
    main()
