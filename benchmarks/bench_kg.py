"""Knowledge-graph embeddings: negsample's KG trainer against PyKEEN 1.11 (CPU) in one run, with
the same model, dimension, negatives per positive, corruption, loss, optimizer (Adam), learning
rate, batch size and epochs; filtered link prediction (realistic ranks, train + valid + test
filtered) on the test split, and training time.

    .venv/bin/python benchmarks/bench_kg.py [--datasets nations,kinships,umls] [--models transe,distmult,complex,rotate]
        [--pykeen-python /work/venvs/kg/bin/python] [--threads 2] [--json out.json]

PyKEEN runs in this interpreter when it can import pykeen, otherwise in a subprocess of the
Python given by --pykeen-python or $NEGSAMPLE_PYKEEN_PYTHON (a venv with
``pip install torch==2.13.0 pykeen==1.11.1``, see benchmarks/requirements-bench.txt). Both use
``--threads`` cores (torch.set_num_threads / our Hogwild threads). PyKEEN's model is also
re-scored with negsample's evaluator (``cross-check``) so the two MRRs are comparable.
Settings per data set are in CONFIGS; the same for both systems. Learning rates were chosen on
the validation split (--split valid) with the same small grid for both systems (RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.environ.get("NEGSAMPLE_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data")), "kg")

# settings shared by both systems (per data set; per model overrides below)
CONFIGS = {
    "nations": dict(dim=50, negative=16, epochs=100, batch_size=128, lr=5e-3),
    "kinships": dict(dim=100, negative=32, epochs=100, batch_size=256, lr=5e-3),
    "umls": dict(dim=100, negative=32, epochs=100, batch_size=256, lr=5e-3),
    "wn-kg": dict(dim=200, negative=64, epochs=40, batch_size=512, lr=1e-3),
}
MODEL_SETTINGS = {
    "transe": dict(loss="nssa", margin=6.0, adversarial_temperature=0.0, p_norm=1),
    "distmult": dict(loss="nssa", margin=0.0, adversarial_temperature=0.0),
    "complex": dict(loss="nssa", margin=0.0, adversarial_temperature=0.0),
    # PyKEEN's RotatE scores with the L2 norm of h o r - t (the paper sums the complex moduli)
    "rotate": dict(loss="nssa", margin=6.0, adversarial_temperature=1.0, p_norm=2),
}


def setting(dataset, model, overrides):
    s = dict(CONFIGS[dataset], **MODEL_SETTINGS[model])
    s.update({k: v for k, v in overrides.items() if v is not None})
    s.setdefault("corruption", "uniform")
    s.setdefault("filtered", False)
    return s


def paths(dataset):
    return {sp: os.path.join(DATA, f"{dataset}.{sp}.tsv") for sp in ("train", "valid", "test")}


# --------------------------------------------------------------------------- ours

def run_ours(dataset, model, s, threads, split):
    from negsample.kg import KGModel, load_kg

    p = paths(dataset)
    data = load_kg(p["train"], p["valid"], p["test"])
    m = KGModel(model, dim=s["dim"], negative=s["negative"], corruption=s["corruption"], filtered=s["filtered"],
                loss=s["loss"], margin=s["margin"], adversarial_temperature=s["adversarial_temperature"],
                p_norm=s.get("p_norm"), optimizer=s.get("optimizer", "adam"), lr=s["lr"], batch_size=s["batch_size"],
                epochs=s["epochs"], threads=threads, seed=s.get("seed", 1))
    m.fit(data)
    ev = data.test if split == "test" else data.valid
    res = m.evaluate(ev, known=data.all_triples(), threads=threads, per_relation=False)
    return {"train_seconds": m.stats_["train_seconds"], "eval_seconds": res["seconds"], **res["both"],
            "final_loss": m.stats_["epoch_losses"][-1], "rejected": m.stats_["filter"]["rejected"]}


# --------------------------------------------------------------------------- PyKEEN

def run_pykeen(dataset, model, s, threads, split, cross_check=True):
    import torch
    from pykeen.losses import MarginRankingLoss, NSSALoss
    from pykeen.models import ComplEx, DistMult, RotatE, TransE
    from pykeen.pipeline import pipeline
    from pykeen.triples import TriplesFactory

    torch.set_num_threads(threads)
    torch.manual_seed(s.get("seed", 1))
    p = paths(dataset)
    tf = TriplesFactory.from_path(p["train"])
    va = TriplesFactory.from_path(p["valid"], entity_to_id=tf.entity_to_id, relation_to_id=tf.relation_to_id)
    te = TriplesFactory.from_path(p["test"], entity_to_id=tf.entity_to_id, relation_to_id=tf.relation_to_id)
    cls = {"transe": TransE, "distmult": DistMult, "complex": ComplEx, "rotate": RotatE}[model]
    model_kwargs = dict(embedding_dim=s["dim"])
    if model == "transe":
        model_kwargs["scoring_fct_norm"] = s.get("p_norm", 1)
    if model in ("complex", "distmult"):
        model_kwargs["regularizer"] = None
    if s["loss"] == "nssa":
        loss, loss_kwargs = NSSALoss, dict(margin=s["margin"], adversarial_temperature=s["adversarial_temperature"])
    else:
        loss, loss_kwargs = MarginRankingLoss, dict(margin=s["margin"])
    evaluation = te if split == "test" else va
    if s.get("pykeen_eval") == "skip":  # PyKEEN ranks one triple only; the MRR comes from our evaluator (cross-check)
        evaluation = evaluation.clone_and_exchange_triples(evaluation.mapped_triples[:1])
    result = pipeline(
        training=tf, validation=va, testing=evaluation, model=cls, model_kwargs=model_kwargs,
        loss=loss, loss_kwargs=loss_kwargs, optimizer="adam", optimizer_kwargs=dict(lr=s["lr"]),
        training_loop="slcwa",
        negative_sampler="bernoulli" if s["corruption"] == "bernoulli" else "basic",
        negative_sampler_kwargs=dict(num_negs_per_pos=s["negative"], filtered=s["filtered"]),
        training_kwargs=dict(num_epochs=s["epochs"], batch_size=s["batch_size"], use_tqdm=False),
        evaluation_kwargs=dict(use_tqdm=False), random_seed=s.get("seed", 1), device="cpu",
        evaluation_fallback=True,
    )
    mr = result.metric_results
    out = {"train_seconds": float(result.train_seconds), "eval_seconds": float(result.evaluate_seconds),
           "mrr": float(mr.get_metric("both.realistic.inverse_harmonic_mean_rank")),
           "mr": float(mr.get_metric("both.realistic.arithmetic_mean_rank")),
           **{f"hits@{k}": float(mr.get_metric(f"both.realistic.hits_at_{k}")) for k in (1, 3, 10)},
           "final_loss": float(result.losses[-1])}
    if cross_check:
        # PyKEEN's trained embeddings in negsample's layout, ranked by negsample's evaluator
        m = result.model
        ent = m.entity_representations[0](indices=None).detach()
        rel = m.relation_representations[0](indices=None).detach()
        if torch.is_complex(ent):
            ent = torch.cat([ent.real, ent.imag], dim=1)
        if model == "rotate":
            rel = torch.angle(rel)
        elif torch.is_complex(rel):
            rel = torch.cat([rel.real, rel.imag], dim=1)
        out["export"] = {"entity": ent.numpy().astype(np.float32).tolist(),
                         "relation": rel.numpy().astype(np.float32).tolist(),
                         "entity_to_id": tf.entity_to_id, "relation_to_id": tf.relation_to_id}
    return out


def cross_check(dataset, model, s, export, threads, split):
    """negsample's filtered MRR of PyKEEN's embeddings (mapped onto negsample's ids)."""
    from negsample.kg import KGModel, load_kg

    p = paths(dataset)
    data = load_kg(p["train"], p["valid"], p["test"])
    ent = np.asarray(export["entity"], np.float32)
    rel = np.asarray(export["relation"], np.float32)
    e_idx = np.array([export["entity_to_id"][e] for e in data.entities])
    r_idx = np.array([export["relation_to_id"][r] for r in data.relations])
    m = KGModel(model, dim=s["dim"], p_norm=s.get("p_norm"), threads=threads)
    m.entity_, m.relation_ = np.ascontiguousarray(ent[e_idx]), np.ascontiguousarray(rel[r_idx])
    m.entities, m.relations = data.entities, data.relations
    ev = data.test if split == "test" else data.valid
    return m.evaluate(ev, known=data.all_triples(), threads=threads, per_relation=False)["both"]


def pykeen_runner(python):
    """A function (dataset, model, settings, threads, split) -> result dict, or None."""
    if python is None:
        try:
            import pykeen  # noqa: F401

            return lambda *a: run_pykeen(*a)
        except ImportError:
            return None

    def run(dataset, model, s, threads, split):
        job = json.dumps(dict(dataset=dataset, model=model, settings=s, threads=threads, split=split))
        env = dict(os.environ, PYTHONPATH="")  # the other venv must not import this checkout's packages
        proc = subprocess.run([python, os.path.abspath(__file__), "--pykeen-worker", job], capture_output=True,
                              text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"PyKEEN worker failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="nations,kinships,umls")
    ap.add_argument("--models", default="transe,distmult,complex,rotate")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split", choices=["test", "valid"], default="test",
                    help="evaluate on test (report) or valid (choose settings)")
    ap.add_argument("--pykeen-python", default=os.environ.get("NEGSAMPLE_PYKEEN_PYTHON"),
                    help="Python of a venv with pykeen (default: $NEGSAMPLE_PYKEEN_PYTHON, else this interpreter)")
    ap.add_argument("--no-pykeen", action="store_true", help="run ours only")
    for k, t in (("dim", int), ("negative", int), ("epochs", int), ("batch-size", int), ("lr", float),
                 ("margin", float), ("adversarial-temperature", float), ("p-norm", int), ("seed", int)):
        ap.add_argument(f"--{k}", type=t, default=None, help=f"override the {k} of every configuration")
    ap.add_argument("--corruption", choices=["uniform", "bernoulli"], default=None)
    ap.add_argument("--optimizer", choices=["adam", "lazy_adam"], default=None,
                    help="ours only: adam (torch.optim.Adam's semantics, as PyKEEN; default) or lazy_adam "
                         "(rows move only with a gradient); PyKEEN always uses torch's Adam")
    ap.add_argument("--filtered", action="store_true", default=None, help="filtered corruption on both sides")
    ap.add_argument("--pykeen-eval", choices=["full", "skip"], default="full",
                    help="skip: PyKEEN's own evaluator ranks one triple (its full filtered evaluation takes longer "
                         "than training on wn-kg here); PyKEEN's MRR/Hits are then its embeddings ranked by ours")
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--pykeen-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pykeen_worker:
        job = json.loads(args.pykeen_worker)
        print(json.dumps(run_pykeen(job["dataset"], job["model"], job["settings"], job["threads"], job["split"])))
        return
    overrides = dict(dim=args.dim, negative=args.negative, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     margin=args.margin, adversarial_temperature=args.adversarial_temperature, p_norm=args.p_norm,
                     seed=args.seed, corruption=args.corruption, optimizer=args.optimizer, filtered=args.filtered,
                     pykeen_eval=None if args.pykeen_eval == "full" else args.pykeen_eval)
    theirs = None if args.no_pykeen else pykeen_runner(args.pykeen_python)
    if theirs is None and not args.no_pykeen:
        print("PyKEEN not importable here: give --pykeen-python (or $NEGSAMPLE_PYKEEN_PYTHON); running ours only")
    from negsample.kg import KGModel

    # compile the kernels outside the timings
    tiny = np.array([[0, 0, 1], [1, 0, 2], [2, 1, 0]])
    for mo in args.models.split(","):
        KGModel(mo, dim=4, negative=2, epochs=1, batch_size=2, threads=args.threads,
                p_norm=MODEL_SETTINGS[mo].get("p_norm")).fit(tiny).evaluate(tiny)
    print(f"split {args.split}; {args.threads} threads; machine: {os.cpu_count()} cores")
    results = []
    for ds in args.datasets.split(","):
        for mo in args.models.split(","):
            s = setting(ds, mo, overrides)
            row = {"dataset": ds, "model": mo, "settings": s}
            row["ours"] = run_ours(ds, mo, s, args.threads, args.split)
            if theirs is not None:
                th = theirs(ds, mo, s, args.threads, args.split)
                export = th.pop("export", None)
                if export is not None:
                    cc = cross_check(ds, mo, s, export, args.threads, args.split)
                    th["mrr_negsample_evaluator"] = cc["mrr"]
                    if s.get("pykeen_eval") == "skip":
                        th.update({k: cc[k] for k in ("mrr", "hits@1", "hits@3", "hits@10")}, pykeen_eval="skipped")
                row["pykeen"] = th
            results.append(row)
            o = row["ours"]
            line = (f"{ds:9s} {mo:8s} dim {s['dim']} k {s['negative']} ep {s['epochs']} lr {s['lr']:g}"
                    f"{' ' + s['optimizer'] if s.get('optimizer') else ''} | ours MRR "
                    f"{o['mrr']:.4f} H@1 {o['hits@1']:.3f} H@10 {o['hits@10']:.3f} train {o['train_seconds']:7.1f} s")
            if "pykeen" in row:
                t = row["pykeen"]
                line += (f" | PyKEEN MRR {t['mrr']:.4f} (our evaluator {t.get('mrr_negsample_evaluator', float('nan')):.4f})"
                         f" H@1 {t['hits@1']:.3f} H@10 {t['hits@10']:.3f} train {t['train_seconds']:7.1f} s"
                         f" | speed-up {t['train_seconds'] / o['train_seconds']:.1f}x, MRR diff {o['mrr'] - t['mrr']:+.4f}")
            print(line, flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
