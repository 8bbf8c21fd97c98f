"""word2vec end to end, side by side (issue 14): negsample vs pWord2Vec, gensim and the C tool.

    .venv/bin/python benchmarks/bench_word2vec.py                    # the full comparison
    .venv/bin/python benchmarks/bench_word2vec.py --max-lines 100000 --epochs 1 --skip-slow   # quick look
    .venv/bin/python benchmarks/bench_word2vec_variants.py [--cbow]  # our kernels vs gensim (issues 3, 4)

Every trainer runs as its own process on the same plain-text corpus (corpus-en decompressed once,
not timed) with the same settings: skip-gram, dim 100, window 5, negative 5, sample 1e-4,
min_count 5, 5 epochs, 2 threads, binary vectors out. Measured per process: whole-process wall time
(start to exit: reading the corpus, vocabulary, training, writing the vectors) and peak RSS
(``wait4``'s ``ru_maxrss``). Trainers:

- ``negsample``: the CLI, ``python -m negsample word2vec train corpus.txt -o v.bin --json`` (its
  JSON gives the time per stage);
- ``pWord2Vec`` (Intel, shared negatives, OpenBLAS) and ``word2vec`` (the C tool), built from
  ``../shared/anchors`` by ``build.sh`` at the start of the run, with the flags of its README;
- ``gensim`` 4.4 ``Word2Vec(corpus_file=...)`` (its fastest mode) in a small script, the vectors
  saved with ``save_word2vec_format``.

negsample and pWord2Vec run twice, alternating (ours, pWord2Vec, ours, pWord2Vec); each keeps its
best wall time. gensim and the C tool run once. Quality: the same evaluator for every vectors
file (``negsample.evaluate``, checked against gensim's in the tests): Google and MSR analogies
(3CosAdd, the 30,000 most frequent words), WordSim353 and SimLex-999 Spearman. Then a thread
scaling run of ours (1 and 2 threads, 1 epoch) with the fraction of thread time spent outside the
kernels (synchronisation, Python, I/O). Achieved FLOP/s: 6 d flops per logit (dot product,
output-row and input-row updates) times the logits our kernel reports, over the training time,
against the machine's peak (FMA units x lanes x 2 x GHz x cores; AVX2 + FMA Zen 3: 32 flops per
cycle per core).
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, ".."))
# ../shared next to the checkout (a worktree under wt/ looks one level further up)
SHARED = os.environ.get("NEGSAMPLE_SHARED") or next(
    (p for p in (os.path.join(ROOT, "..", "shared"), os.path.join(ROOT, "..", "..", "shared")) if os.path.isdir(p)),
    os.path.join(ROOT, "..", "shared"))
SHARED = os.path.abspath(SHARED)
EVAL = os.path.join(SHARED, "data", "eval")
SETTINGS = dict(dim=100, window=5, negative=5, sample=1e-4, min_count=5)
TARGET_RATIO = 0.67


# --------------------------------------------------------------------------- helpers

def run_measured(cmd, env=None):
    """Run cmd; returns dict(wall, rss_mb, out, err). Peak RSS from wait4 on this very child."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read().decode(errors="replace"), fe.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.stderr.write(err[-3000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return {"wall": wall, "rss_mb": usage.ru_maxrss / 1024.0, "cpu": usage.ru_utime + usage.ru_stime, "out": out,
            "err": err}


def machine():
    info = {"machine": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
        info["cpu"] = re.search(r"model name\s*:\s*(.*)", text).group(1).strip()
        flags = set(re.search(r"flags\s*:\s*(.*)", text).group(1).split())
        info["avx512"] = "avx512f" in flags
        info["avx2_fma"] = "avx2" in flags and "fma" in flags
        mhz = re.search(r"cpu MHz\s*:\s*([\d.]+)", text)
        info["mhz"] = float(mhz.group(1)) if mhz else None
    except (OSError, AttributeError):
        pass
    lanes = 16 if info.get("avx512") else 8
    ghz = (info.get("mhz") or 2450.0) / 1000.0
    info["peak_gflops_per_core"] = 2 * lanes * 2 * ghz          # 2 FMA pipes x lanes x 2 flops
    return info


def decompress(src, dst, max_lines=None):
    opener = lzma.open if src.endswith(".xz") else open
    n = 0
    with opener(src, "rb") as fin, open(dst, "wb") as fout:
        for line in fin:
            if max_lines is not None and n >= max_lines:
                break
            fout.write(line)
            n += 1
    return n


def build_anchors():
    out = subprocess.run(["bash", os.path.join(SHARED, "anchors", "build.sh")], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("building the anchors failed:\n" + out.stderr[-3000:])
    paths = dict(re.findall(r"^(word2vec|pWord2Vec):\s+(\S+)$", out.stdout, re.M))
    return paths["word2vec"], paths["pWord2Vec"]


def evaluate(vectors_path):
    from negsample.evaluate import evaluate_analogies, evaluate_similarity
    from negsample.vectors import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(vectors_path, binary=True)
    google = evaluate_analogies(kv, os.path.join(EVAL, "questions-words.txt"), restrict_vocab=30000)
    msr = evaluate_analogies(kv, os.path.join(EVAL, "msr-analogies.txt"), restrict_vocab=30000)
    ws = evaluate_similarity(kv, os.path.join(EVAL, "wordsim353.tsv"))
    sl = evaluate_similarity(kv, os.path.join(EVAL, "simlex999.txt"))
    return {"google": google["total"], "msr": msr["total"], "wordsim353": ws["spearman"],
            "simlex999": sl["spearman"], "vocab": len(kv.words) if hasattr(kv, "words") else None}


# --------------------------------------------------------------------------- trainers

def cmd_ours(corpus, out, epochs, threads, extra=()):
    s = SETTINGS
    return [sys.executable, "-m", "negsample", "word2vec", "train", corpus, "-o", out, "--epochs", str(epochs),
            "--threads", str(threads), "--dim", str(s["dim"]), "--window", str(s["window"]),
            "--negative", str(s["negative"]), "--sample", str(s["sample"]), "--min-count", str(s["min_count"]),
            "--json", *extra]


def cmd_c(binary, corpus, out, epochs, threads, pword2vec=False):
    s = SETTINGS
    cmd = [binary, "-train", corpus, "-output", out, "-size", str(s["dim"]), "-window", str(s["window"]),
           "-negative", str(s["negative"]), "-sample", str(s["sample"]), "-min-count", str(s["min_count"]),
           "-iter", str(epochs), "-threads", str(threads), "-binary", "1"]
    if pword2vec:
        cmd += ["-batch-size", "11"]
    else:
        cmd += ["-cbow", "0", "-hs", "0"]
    return cmd


GENSIM = """
import sys
from gensim.models import Word2Vec
corpus, out, epochs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
m = Word2Vec(corpus_file=corpus, vector_size=100, window=5, negative=5, sample=1e-4, min_count=5,
             epochs=epochs, workers=threads, sg=1, hs=0, seed=1)
m.wv.save_word2vec_format(out, binary=True)
print("TRAIN_SECONDS", m.total_train_time)
"""


def cmd_gensim(corpus, out, epochs, threads):
    return [sys.executable, "-c", GENSIM, corpus, out, str(epochs), str(threads)]


# --------------------------------------------------------------------------- the comparison

def side_by_side(args, corpus, workdir, info):
    c_tool, pw2v = build_anchors()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS=str(args.threads))
    # the native kernel library is built once per machine: not part of any run
    subprocess.run([sys.executable, "-c", "from negsample.kernels import native; native.load()"], check=True)
    raw_tokens = sum(len(line.split()) for line in open(corpus, "rb"))
    runs = []
    order = [("negsample", i) for i in range(args.runs)]
    order = [x for pair in zip(order, [("pWord2Vec", i) for i in range(args.runs)]) for x in pair]
    if not args.skip_slow:
        order += [("gensim", 0), ("word2vec-c", 0)]
    for name, i in order:
        out = os.path.join(workdir, f"{name}-{i}.bin")
        if name == "negsample":
            cmd = cmd_ours(corpus, out, args.epochs, args.threads, args.ours_args)
        elif name == "pWord2Vec":
            cmd = cmd_c(pw2v, corpus, out, args.epochs, args.threads, pword2vec=True)
        elif name == "word2vec-c":
            cmd = cmd_c(c_tool, corpus, out, args.epochs, args.threads)
        else:
            cmd = cmd_gensim(corpus, out, args.epochs, args.threads)
        r = run_measured(cmd, env=env)
        rec = {"trainer": name, "run": i, "wall": r["wall"], "rss_mb": r["rss_mb"], "cpu": r["cpu"], "vectors": out}
        if name == "negsample":
            rec["stats"] = json.loads(r["out"].strip().splitlines()[-1])
        if name == "gensim":
            m = re.search(r"TRAIN_SECONDS ([\d.]+)", r["out"])
            rec["train_seconds"] = float(m.group(1)) if m else None
        runs.append(rec)
        print(f"  {name:<11} run {i + 1}: wall {r['wall']:7.1f} s, CPU {r['cpu']:7.1f} s, peak RSS {r['rss_mb']:6.0f} MB",
              flush=True)
    # best run per trainer, then quality
    best = {}
    for rec in runs:
        if rec["trainer"] not in best or rec["wall"] < best[rec["trainer"]]["wall"]:
            best[rec["trainer"]] = rec
    for rec in best.values():
        rec["quality"] = evaluate(rec["vectors"])
    return {"runs": runs, "best": best, "raw_tokens": raw_tokens}


def scaling(args, corpus, workdir):
    """Ours, 1 epoch, 1 and 2 threads: training words/s and the time outside the kernels."""
    out = {}
    for th in (1, 2):
        r = run_measured(cmd_ours(corpus, os.path.join(workdir, f"scale-{th}.bin"), 1, th, args.ours_args))
        st = json.loads(r["out"].strip().splitlines()[-1])
        busy = st["kernel_seconds"] / (th * st["train_seconds"])
        out[th] = {"words_per_sec": st["words_per_sec"], "train_seconds": st["train_seconds"],
                   "kernel_seconds": st["kernel_seconds"], "kernel_busy": busy}
        print(f"  ours {th} thread(s), 1 epoch: {st['words_per_sec']:,.0f} words/s, train {st['train_seconds']:.1f} s, "
              f"threads in the kernel {100 * busy:.1f}% of the time", flush=True)
    return out


def report(res, info, args):
    best, raw = res["best"], res["raw_tokens"]
    print(f"\n| trainer | wall | CPU (user+sys) | peak RSS | Google | MSR | WS353 | SimLex | raw words/s (wall) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in ("negsample", "pWord2Vec", "gensim", "word2vec-c"):
        if name not in best:
            continue
        b, q = best[name], best[name]["quality"]
        label = name
        if name == "negsample":
            st = b["stats"]
            label = (f"negsample ({st['prep_seconds']:.1f} s corpus prep + {st['train_seconds']:.1f} s training "
                     f"+ {st.get('write_seconds', 0):.1f} s writing)")
        print(f"| {label} | {b['wall']:.1f} s | {b['cpu']:.1f} s | {b['rss_mb']:.0f} MB | {100 * q['google']:.1f}% "
              f"| {100 * q['msr']:.1f}% "
              f"| {q['wordsim353']:.3f} | {q['simlex999']:.3f} | {raw * args.epochs / b['wall']:,.0f} |")
    o = best["negsample"]
    st = o["stats"]
    p = st.get("prep") or {}
    print("\nnegsample, time per stage (best run): "
          f"read {p.get('read_seconds', float('nan')):.2f} s (decompression/reading thread, overlaps the scan), "
          f"count {p.get('scan_seconds', float('nan')):.2f} s (tokenise + count + provisional ids), "
          f"vocabulary {p.get('vocab_seconds', float('nan')):.2f} s, encode {p.get('encode_seconds', float('nan')):.2f} s "
          f"(remap in place), train {st['train_seconds']:.2f} s, write {st.get('write_seconds', float('nan')):.2f} s; "
          f"whole process {o['wall']:.2f} s")
    flops = 6 * SETTINGS["dim"] * st.get("logits", float("nan"))
    gflops = flops / st["train_seconds"] / 1e9
    peak = info["peak_gflops_per_core"] * args.threads
    print(f"training: {st['words_per_sec']:,.0f} raw words/s; {st.get('logits', 0) / (raw * args.epochs):.2f} logits "
          f"= {flops / (raw * args.epochs) / 1e3:.1f} kFLOP per raw word; {gflops:.1f} GFLOP/s achieved = "
          f"{100 * gflops / peak:.1f}% of the {peak:.0f} GFLOP/s peak ({args.threads} cores)")
    if "pWord2Vec" in best:
        pw = best["pWord2Vec"]
        ratio = o["wall"] / pw["wall"]
        qo, qp = o["quality"], pw["quality"]
        best_cpu = {n: min(r["cpu"] for r in res["runs"] if r["trainer"] == n) for n in ("negsample", "pWord2Vec")}
        print(f"\nnegsample / pWord2Vec wall: {ratio:.3f} (target <= {TARGET_RATIO}) -> "
              f"{'MET' if ratio <= TARGET_RATIO else 'NOT MET'}; {pw['wall'] / o['wall']:.2f}x faster; CPU time "
              f"(best runs) {best_cpu['negsample']:.1f} s vs {best_cpu['pWord2Vec']:.1f} s = "
              f"{best_cpu['negsample'] / best_cpu['pWord2Vec']:.3f}")
        checks = [("Google", 100 * (qo["google"] - qp["google"]), 1.0, "points"),
                  ("MSR", 100 * (qo["msr"] - qp["msr"]), 1.0, "points"),
                  ("WS353", qo["wordsim353"] - qp["wordsim353"], 0.01, ""),
                  ("SimLex", qo["simlex999"] - qp["simlex999"], 0.01, "")]
        for name, delta, tol, unit in checks:
            print(f"  quality {name:<6} {delta:+.3f} {unit} vs pWord2Vec (tolerance -{tol}) -> "
                  f"{'ok' if delta >= -tol else 'BELOW'}")
    if "gensim" in best:
        g = best["gensim"]
        print(f"  peak RSS {o['rss_mb']:.0f} MB vs gensim {g['rss_mb']:.0f} MB -> "
              f"{'ok' if o['rss_mb'] <= g['rss_mb'] else 'HIGHER'}; speed vs gensim {g['wall'] / o['wall']:.2f}x")


def main():
    ap = argparse.ArgumentParser(description="word2vec end to end: negsample vs pWord2Vec, gensim, word2vec C")
    ap.add_argument("--corpus", default=os.path.join(SHARED, "data", "text", "corpus-en.txt.xz"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=2, help="alternating runs of ours and pWord2Vec (best kept)")
    ap.add_argument("--max-lines", type=int, default=None, help="use only the first N lines (quick runs)")
    ap.add_argument("--skip-slow", action="store_true", help="skip gensim and the C tool")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--ours-args", nargs=argparse.REMAINDER, default=[],
                    help="extra arguments for `negsample word2vec train` (last on the line)")
    ap.add_argument("--json-out", help="also write all results to this JSON file")
    args = ap.parse_args()
    if not os.path.exists(args.corpus):
        raise SystemExit(f"corpus not found: {args.corpus} (needs ../shared/data)")
    info = machine()
    workdir = tempfile.mkdtemp(prefix="bench-w2v-")
    corpus = os.path.join(workdir, "corpus.txt")
    n_lines = decompress(args.corpus, corpus, args.max_lines)
    print(f"machine: {info.get('cpu')} x {info['cores']} cores, AVX-512 {info.get('avx512')}, AVX2+FMA "
          f"{info.get('avx2_fma')}, {info.get('mhz')} MHz; peak {info['peak_gflops_per_core']:.0f} GFLOP/s per core")
    print(f"corpus: {args.corpus} ({n_lines} lines, decompressed to plain text for every trainer), {args.epochs} "
          f"epochs, {args.threads} threads, dim 100, window 5, negative 5, sample 1e-4, min_count 5; ours: "
          f"{' '.join(args.ours_args) or 'defaults'}")
    res = side_by_side(args, corpus, workdir, info)
    report(res, info, args)
    if not args.skip_scaling:
        print("\nthread scaling (ours, 1 epoch, no evaluation):")
        res["scaling"] = scaling(args, corpus, workdir)
        s1, s2 = res["scaling"][1], res["scaling"][2]
        print(f"  2 threads / 1 thread: {s2['words_per_sec'] / s1['words_per_sec']:.2f}x; time outside the kernels: "
              f"{100 * (1 - s1['kernel_busy']):.1f}% (1 thread), {100 * (1 - s2['kernel_busy']):.1f}% (2 threads); "
              f"kernel throughput per thread at 2 threads / at 1: "
              f"{(s2['words_per_sec'] / s2['kernel_busy'] / 2) / (s1['words_per_sec'] / s1['kernel_busy']):.2f}")
    if args.json_out:
        res["machine"] = info
        with open(args.json_out, "w") as fh:
            json.dump(res, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
