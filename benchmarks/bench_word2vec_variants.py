"""word2vec kernels, speed, memory and quality: negsample (shared and per-example negatives,
native and JIT) vs gensim, training time only (issues 3 and 4; the end-to-end comparison with
pWord2Vec and the C tool is bench_word2vec.py).

    .venv/bin/python benchmarks/bench_word2vec_variants.py            # full run (issues 3 and 4)
    .venv/bin/python benchmarks/bench_word2vec_variants.py --max-lines 100000 --epochs 1   # quick look
    .venv/bin/python benchmarks/bench_word2vec_variants.py --cbow     # CBOW: gensim sg=0 vs ours

Same corpus, same settings for every trainer: skip-gram, dim 100, window 5, negative 5,
sample 1e-4, min_count 5, 5 epochs, 2 threads; gensim 4.4 in its fastest mode (corpus_file,
sg=1, hs=0, workers=2). Each trainer runs in its own subprocess (clean peak RSS); words/s is raw
corpus words (all tokens) x epochs / training seconds for both. Peak RSS is read right after
training and saving, before the evaluation runs in the same process. "ours-shared-jit" runs the
same shared kernel through the numba JIT in-process (NEGSAMPLE_KERNELS=jit) to show what the
native library saves. Quality is measured with the same
evaluator for every model (negsample.evaluate, which the tests check against gensim's): Google
analogies (restrict_vocab 30000), WordSim353 and SimLex-999 Spearman.
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.abspath(os.path.join(HERE, "..", "..", "shared", "data"))
EVAL = os.path.join(SHARED, "eval")


def evaluate(vectors_path):
    from negsample.evaluate import evaluate_analogies, evaluate_similarity
    from negsample.vectors import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(vectors_path, binary=True)
    an = evaluate_analogies(kv, os.path.join(EVAL, "questions-words.txt"), restrict_vocab=30000)
    ws = evaluate_similarity(kv, os.path.join(EVAL, "wordsim353.tsv"))
    sl = evaluate_similarity(kv, os.path.join(EVAL, "simlex999.txt"))
    return {"analogy": an["total"], "analogy_semantic": an["semantic"], "analogy_syntactic": an["syntactic"],
            "wordsim353": ws["spearman"], "simlex999": sl["spearman"]}


def worker(args):
    """Train one model in this process and print a JSON line."""
    out = os.path.join(args.workdir, f"{args.worker}-{args.threads}t.bin")
    s = dict(dim=100, window=5, negative=5, sample=1e-4, min_count=5)
    if args.worker.startswith("gensim"):
        from gensim.models import Word2Vec as GWord2Vec

        model = GWord2Vec(corpus_file=args.corpus, vector_size=s["dim"], window=s["window"],
                          negative=s["negative"], sample=s["sample"], min_count=s["min_count"],
                          epochs=args.epochs, workers=args.threads, sg=0 if "cbow" in args.worker else 1,
                          hs=0, seed=1, alpha=0.05 if args.worker == "gensim-cbow-lr0.05" else 0.025)
        train_seconds = model.total_train_time
        raw = model.corpus_total_words
        model.wv.save_word2vec_format(out, binary=True)
        vocab = len(model.wv)
        backend = "gensim cython"
    else:
        from negsample.word2vec import Word2Vec

        mode = "shared" if args.worker.startswith("ours-shared") else "per-example"
        arch = "cbow" if args.worker == "ours-cbow" else "skipgram"
        # compile (or load the numba cache) outside the timed run
        Word2Vec(min_count=1, epochs=1, threads=1, negatives=mode, dim=s["dim"], arch=arch).fit(
            [["warm", "up", "the", "kernels"]] * 20, progress=False)
        model = Word2Vec(epochs=args.epochs, threads=args.threads, negatives=mode, seed=1, arch=arch, **s)
        model.fit(args.corpus, progress=False)
        train_seconds = model.stats["train_seconds"]
        raw = model.stats["raw_words"]
        model.save_vectors(out, binary=True)
        vocab = model.stats["vocab_size"]
        backend = model.stats["kernel_backend"]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # before evaluation
    res = {"trainer": args.worker, "threads": args.threads, "epochs": args.epochs,
           "train_seconds": train_seconds, "raw_words": raw, "vocab_size": vocab,
           "words_per_sec": raw * args.epochs / train_seconds, "peak_rss_mb": rss_mb,
           "backend": backend, "numba_loaded": "numba" in sys.modules}
    if not args.no_eval:
        res.update(evaluate(out))
    print("RESULT " + json.dumps(res), flush=True)


def run(trainer, corpus, epochs, threads, workdir, no_eval=False):
    cmd = [sys.executable, __file__, "--worker", trainer, "--corpus", corpus, "--epochs", str(epochs),
           "--threads", str(threads), "--workdir", workdir] + (["--no-eval"] if no_eval else [])
    t0 = time.perf_counter()
    env = dict(os.environ)
    if trainer.endswith("-jit"):
        env["NEGSAMPLE_KERNELS"] = "jit"     # the numba JIT kernels in-process, for comparison
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{trainer} failed")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    res = json.loads(line[7:])
    res["wall_seconds"] = time.perf_counter() - t0
    print(f"  {trainer:<18} {threads}t: {res['words_per_sec']:>12,.0f} words/s, train {res['train_seconds']:7.1f} s, "
          f"peak RSS {res['peak_rss_mb']:7.0f} MB [{res['backend']}]" + ("" if no_eval else
          f", analogy {100 * res['analogy']:.2f}%, WS353 {res['wordsim353']:.4f}, SimLex {res['simlex999']:.4f}"),
          flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description="word2vec benchmark: negsample vs gensim")
    ap.add_argument("--corpus", default=os.path.join(SHARED, "text", "corpus-en.txt.xz"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-lines", type=int, default=None, help="use only the first N lines (quick runs)")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--cbow", action="store_true", help="compare CBOW instead: gensim sg=0 vs ours arch='cbow'")
    ap.add_argument("--json-out", help="also write all results to this JSON file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--no-eval", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    if not os.path.exists(args.corpus):
        raise SystemExit(f"corpus not found: {args.corpus} (needs ../shared/data)")
    workdir = tempfile.mkdtemp(prefix="bench-w2v-")
    plain = os.path.join(workdir, "corpus.txt")
    opener = lzma.open if args.corpus.endswith(".xz") else open
    with opener(args.corpus, "rt", encoding="utf-8") as src, open(plain, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if args.max_lines is not None and i >= args.max_lines:
                break
            dst.write(line)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}")
    print(f"corpus: {args.corpus} ({'first %d lines' % args.max_lines if args.max_lines else 'all'}), "
          f"{args.epochs} epochs, {args.threads} threads, dim 100, window 5, negative 5, sample 1e-4, min_count 5")
    results = {}
    if args.cbow:
        # ours at its CBOW default lr 0.05 (the C tool's); gensim at its default 0.025 and at 0.05
        for trainer in ("gensim-cbow", "gensim-cbow-lr0.05", "ours-cbow"):
            results[trainer] = run(trainer, plain, args.epochs, args.threads, workdir)
        o = results["ours-cbow"]
        for name in ("gensim-cbow", "gensim-cbow-lr0.05"):
            g = results[name]
            print(f"\nCBOW ratios (ours / {name}): speed {o['words_per_sec'] / g['words_per_sec']:.2f}x, "
                  f"peak RSS {o['peak_rss_mb'] / g['peak_rss_mb']:.2f}x, analogy {100 * (o['analogy'] - g['analogy']):+.2f} "
                  f"points, WS353 {o['wordsim353'] - g['wordsim353']:+.4f}, SimLex {o['simlex999'] - g['simlex999']:+.4f}")
        if args.json_out:
            with open(args.json_out, "w") as fh:
                json.dump(results, fh, indent=1)
        return
    for trainer in ("gensim", "ours-per-example", "ours-shared", "ours-shared-jit"):
        results[trainer] = run(trainer, plain, args.epochs, args.threads, workdir)
    if not args.skip_scaling:
        print("scaling (shared kernel, 1 epoch, no evaluation):")
        for th in (1, 2):
            results[f"scaling-{th}"] = run("ours-shared", plain, 1, th, workdir, no_eval=True)
    g, pe, sh = results["gensim"], results["ours-per-example"], results["ours-shared"]
    print("\nratios (ours / gensim unless stated):")
    print(f"  speed   shared {sh['words_per_sec'] / g['words_per_sec']:.2f}x   per-example "
          f"{pe['words_per_sec'] / g['words_per_sec']:.2f}x   shared/per-example "
          f"{sh['words_per_sec'] / pe['words_per_sec']:.2f}x")
    for name, r in (("shared", sh), ("per-example", pe)):
        print(f"  quality {name:<12} analogy {100 * (r['analogy'] - g['analogy']):+.2f} points, "
              f"WS353 {r['wordsim353'] - g['wordsim353']:+.4f}, SimLex {r['simlex999'] - g['simlex999']:+.4f}")
        print(f"  memory  {name:<12} peak RSS {r['peak_rss_mb'] / g['peak_rss_mb']:.2f}x gensim's")
    jit = results["ours-shared-jit"]
    print(f"  kernels native / numba JIT (shared): speed {sh['words_per_sec'] / jit['words_per_sec']:.2f}x, "
          f"peak RSS {sh['peak_rss_mb']:.0f} vs {jit['peak_rss_mb']:.0f} MB")
    if not args.skip_scaling:
        s1, s2 = results["scaling-1"], results["scaling-2"]
        print(f"  scaling 2 threads / 1 thread: {s2['words_per_sec'] / s1['words_per_sec']:.2f}x "
              f"({s1['words_per_sec']:,.0f} -> {s2['words_per_sec']:,.0f} words/s)")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
