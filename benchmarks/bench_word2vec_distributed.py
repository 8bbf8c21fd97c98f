"""word2vec across processes: 1 process x 2 threads vs 2 processes x 1 thread (torchrun, gloo).

    .venv/bin/python benchmarks/bench_word2vec_distributed.py                  # full run (issue 19)
    .venv/bin/python benchmarks/bench_word2vec_distributed.py --max-lines 100000 --epochs 1   # quick look
    .venv/bin/python benchmarks/bench_word2vec_distributed.py --variant avg:--sync-merge=average \\
        --variant s1m:--sync-words=1000000 --variant four:nproc=4              # more distributed settings

Same corpus and settings as bench_word2vec.py (corpus-en decompressed to a plain file, so the
processes split it by byte ranges; skip-gram, dim 100, window 5, negative 5, sample 1e-4,
min_count 5, 5 epochs, shared negatives). Both runs go through the command line, the distributed
one as ``torchrun --standalone --nproc-per-node 2 -m negsample word2vec train ... --distributed
--threads 1``. Quality with negsample.evaluate: Google and MSR analogies (restrict_vocab 30000),
WordSim353 and SimLex-999 Spearman. Words/s = raw corpus words x epochs / training seconds (the
slowest rank's, sync included); the sync share = seconds in collectives / training seconds
(mean over ranks; the all-reduce time includes waiting for the slower rank).
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("NEGSAMPLE_SHARED_DATA", os.path.abspath(os.path.join(HERE, "..", "..", "shared", "data")))
EVAL = os.path.join(SHARED, "eval")


def evaluate(path):
    from negsample.evaluate import evaluate_analogies, evaluate_similarity
    from negsample.vectors import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(path, binary=True)
    g = evaluate_analogies(kv, os.path.join(EVAL, "questions-words.txt"), restrict_vocab=30000)
    m = evaluate_analogies(kv, os.path.join(EVAL, "msr-analogies.txt"), restrict_vocab=30000)
    return {"google": g["total"], "msr": m["total"],
            "wordsim353": evaluate_similarity(kv, os.path.join(EVAL, "wordsim353.tsv"))["spearman"],
            "simlex999": evaluate_similarity(kv, os.path.join(EVAL, "simlex999.txt"))["spearman"]}


# ----------------------------------------------------------------------------- scaling model

def schedule_rows(points, hot, V):
    """Rows merged at each sync point of an epoch (negsample.sgns_distributed.ModelSync.rows_at)."""
    return [V if g == points - 1 else min(V, hot << (((g + 1) & -(g + 1)).bit_length() - 1)) for g in range(points)]


def project(rate_per_core, V, dim, raw_words, tokens, hot, nodes, gbit, sync_words, cores=32, thread_eff=0.95,
            latency=None):
    """One epoch on `nodes` nodes of `cores` cores (one process of `cores` threads per node):
    compute T / (N c r eta) plus, at each of the ceil(T_iv / (N S)) sync points, one ring
    all-reduce of the merged rows: 2 (N-1)/N x 8 dim R_g bytes / bandwidth + 2 (N-1) latency
    (R_g by the doubling schedule from `hot`, all V rows at the last point)."""
    bw = gbit * 1e9 / 8
    alpha = latency if latency is not None else (30e-6 if gbit <= 10 else 10e-6)
    t_one = raw_words / (cores * rate_per_core * thread_eff)
    t_c = t_one / nodes
    if nodes == 1:
        return {"nodes": 1, "epoch_seconds": t_c, "speedup": 1.0, "sync_share": 0.0, "bytes_per_node": 0.0,
                "points": 0, "period": float("nan")}
    points = max(1, -(-int(tokens / nodes) // int(sync_words)))
    rows = schedule_rows(points, hot, V)
    ring = 2 * (nodes - 1) / nodes
    t_s = sum(ring * 8 * dim * r / bw + 2 * (nodes - 1) * alpha for r in rows)
    return {"nodes": nodes, "epoch_seconds": t_c + t_s, "speedup": t_one / (t_c + t_s),
            "sync_share": t_s / (t_c + t_s), "bytes_per_node": ring * 8 * dim * sum(rows), "points": points,
            "period": t_c / points}


def print_projection(res, dim=100, cores=32, rate=None):
    d, sy = res["distributed"], res["sync"]
    measured = sum(res["compute_words_per_sec_per_process"]) / len(res["compute_words_per_sec_per_process"])
    rate = measured if rate is None else rate
    V, raw, tokens = res["vocab_size"], res["raw_words"], sum(d["shard_tokens"])
    print(f"\nscaling model: {rate:,.0f} words/s per core (measured here: {measured:,.0f} per process, sync "
          f"excluded); measured merge volume {sy['bytes_merged_per_epoch'] / 2**20:,.1f} MiB per epoch per process "
          f"with {d['world_size']} processes (S={sy['sync_words']:,}, H={sy['hot_words']}); assumed {cores} cores "
          "per node (one process of 32 threads) at 0.95 thread efficiency, ring all-reduce, latency 30 us (10 Gbit) "
          "/ 10 us (100 Gbit)")
    node_rate = cores * rate * 0.95
    regimes = [(f"S = {sy['sync_words']:,} words per node (the tested setting), H = {sy['hot_words']}",
                lambda tok_raw: sy["sync_words"], sy["hot_words"]),
               ("S = 0.1 s of a node's words (pWord2Vec's period), H = 1024",
                lambda tok_raw: node_rate * 0.1 * tok_raw, 1024)]
    workloads = [("corpus-en", V, dim, raw, tokens), ("1e9 words, corpus-en's V and dim", V, dim, 1e9, 1e9 * tokens / raw),
                 ("1e9 words, V=1e6, dim 300", 1_000_000, 300, 1e9, 1e9 * tokens / raw)]
    for label, S_of, hot in regimes:
        print(f" {label}:")
        for name, V_, dim_, raw_, tok_ in workloads:
            S = S_of(tok_ / raw_)
            t1 = project(rate, V_, dim_, raw_, tok_, hot, 1, 10, S, cores=cores)["epoch_seconds"]
            print(f"  {name} (1 node: {t1:,.1f} s/epoch, S = {S:,.0f} in-vocabulary words):")
            for gbit in (10, 100):
                cells = []
                for n in (8, 32, 128):
                    p = project(rate, V_, dim_, raw_, tok_, hot, n, gbit, S, cores=cores)
                    cells.append(f"{n:>3} nodes {p['speedup']:6.1f}x ({100 * p['speedup'] / n:3.0f}%, sync "
                                 f"{100 * p['sync_share']:3.0f}%, {p['bytes_per_node'] / 2**20:7,.0f} MiB/epoch, "
                                 f"period {1e3 * p['period']:6.2f} ms)")
                print(f"    {gbit:>3} Gbit: " + "; ".join(cells))


def run(name, cmd, env):
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-6000:])
        raise SystemExit(f"{name} failed (exit {proc.returncode})")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    res = json.loads(lines[-1])
    res.update(name=name, wall_seconds=wall, load_before=load0, load_after=os.getloadavg()[0])
    return res


def main():
    ap = argparse.ArgumentParser(description="distributed word2vec benchmark: 2 processes x 1 thread vs 1 x 2")
    ap.add_argument("--corpus", default=os.path.join(SHARED, "text", "corpus-en.txt.xz"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--max-lines", type=int, default=None, help="use only the first N lines (quick runs)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:ARGS",
                    help="another distributed run with extra CLI arguments (comma-separated; nproc=N sets the "
                         "number of processes, default 2), e.g. avg:--sync-merge=average or four:nproc=4")
    ap.add_argument("--skip-single", action="store_true", help="only the 2-process runs")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1],
                    help="run the 1-process and 2-process settings once per seed and compare seed by seed and on "
                         "the mean (the 2 x 1 run is deterministic for a seed, so more seeds are more samples)")
    ap.add_argument("--json-out", help="also write all results to this JSON file")
    ap.add_argument("--project", metavar="JSON", help="only print the scaling model from a --json-out file")
    ap.add_argument("--rate", type=float, help="with --project: words/s per core to assume instead of the measured")
    ap.add_argument("--run", default="2 processes x 1 thread", help="with --project: the run whose sync to use")
    args = ap.parse_args()
    if args.project:
        with open(args.project) as fh:
            results = json.load(fh)
        print_projection(next(r for r in results if r.get("sync") and r["name"] == args.run), rate=args.rate)
        return
    if not os.path.exists(args.corpus):
        raise SystemExit(f"corpus not found: {args.corpus} (needs ../shared/data)")
    workdir = tempfile.mkdtemp(prefix="bench-w2v-dist-")
    plain = os.path.join(workdir, "corpus.txt")
    opener = lzma.open if args.corpus.endswith(".xz") else open
    with opener(args.corpus, "rt", encoding="utf-8") as src, open(plain, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if args.max_lines is not None and i >= args.max_lines:
                break
            dst.write(line)
    py = sys.executable
    torchrun = [py, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(HERE, "..", "src") + os.pathsep + env.get("PYTHONPATH", "")
    common = ["word2vec", "train", plain, "--epochs", str(args.epochs), "--json", "--quiet"]
    subprocess.run([py, "-m", "negsample", "kernels", "build"], env=env, capture_output=True)   # built once
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"corpus: {args.corpus} ({'first %d lines' % args.max_lines if args.max_lines else 'all'}), plain text "
          f"({os.path.getsize(plain) / 2**20:.0f} MiB), {args.epochs} epochs, dim 100, window 5, negative 5, "
          "sample 1e-4, min_count 5")
    runs = []
    for seed in args.seeds:
        tag = "" if len(args.seeds) == 1 else f" seed {seed}"
        with_seed = common + ["--seed", str(seed)]
        if not args.skip_single:
            runs.append(("1 process x 2 threads" + tag, [py, "-m", "negsample"] + with_seed + ["--threads", "2"]))
        runs.append(("2 processes x 1 thread" + tag,
                     torchrun + ["-m", "negsample"] + with_seed + ["--threads", "1", "--distributed"]))
    for v in args.variant:
        name, _, extra = v.partition(":")
        extra = [a for a in extra.split(",") if a]
        nproc = next((a.split("=")[1] for a in extra if a.startswith("nproc=")), "2")
        extra = [a for a in extra if not a.startswith("nproc=")]
        launcher = torchrun[:-1] + [nproc]
        runs.append((f"{nproc}x1 {name}", launcher + ["-m", "negsample"] + common + ["--threads", "1", "--distributed"]
                     + extra))
    results = []
    for name, cmd in runs:
        out = os.path.join(workdir, f"v{len(results)}.bin")
        res = run(name, cmd[:cmd.index("--epochs")] + ["-o", out] + cmd[cmd.index("--epochs"):], env)
        res.update(evaluate(out))
        results.append(res)
        sy = res.get("sync") or {}
        line = (f"  {name:<24} {res['words_per_sec']:>10,.0f} words/s, train {res['train_seconds']:6.1f} s "
                f"(wall {res['wall_seconds']:5.1f} s, load {res['load_before']:.1f} -> {res['load_after']:.1f}); "
                f"Google {100 * res['google']:.2f}%, MSR {100 * res['msr']:.2f}%, WS353 {res['wordsim353']:.4f}, "
                f"SimLex {res['simlex999']:.4f}")
        if sy:
            d = res["distributed"]
            compute = [t - x for t, x in zip(d["rank_train_seconds"], sy["sync_seconds_per_rank"])]
            res["compute_words_per_sec_per_process"] = [r * res["epochs_run"] / c
                                                        for r, c in zip(d["shard_raw_words"], compute)]
            n = d["world_size"]
            line += (f"\n  {'':<24} sync: {sy['points_per_epoch']} points/epoch, "
                     f"{sy['bytes_merged_per_epoch'] / 2**20:,.1f} MiB merged per epoch per process, "
                     f"{100 * sy['sync_share']:.1f}% of the time synchronising (all-reduce, waits included: "
                     f"{', '.join(f'{x:.1f}' for x in sy['collective_seconds_per_rank'])} s per rank); compute-only {', '.join(f'{x:,.0f}' for x in res['compute_words_per_sec_per_process'])}"
                     f" words/s per process; {n} shards of {min(d['shard_tokens']):,}-{max(d['shard_tokens']):,} tokens")
        print(line, flush=True)
    def compare(d, s):
        print(f"\n{d['name']} vs {s['name']}: speed {d['words_per_sec'] / s['words_per_sec']:.2f}x, "
              f"Google {100 * (d['google'] - s['google']):+.2f} points, MSR {100 * (d['msr'] - s['msr']):+.2f} "
              f"points, WS353 {d['wordsim353'] - s['wordsim353']:+.4f}, SimLex {d['simlex999'] - s['simlex999']:+.4f}")

    if not args.skip_single and len(results) > 1:
        singles = [r for r in results if r["name"].startswith("1 process")]
        dists = [r for r in results if r["name"].startswith("2 processes")]
        for s, d in zip(singles, dists):
            compare(d, s)
        for d in results[2 * len(args.seeds):]:
            compare(d, singles[0])
        if len(args.seeds) > 1:
            keys = ("words_per_sec", "google", "msr", "wordsim353", "simlex999")
            mean = lambda rs, k: sum(r[k] for r in rs) / len(rs)
            compare({"name": f"mean of {len(dists)} 2 x 1 runs", **{k: mean(dists, k) for k in keys}},
                    {"name": f"mean of {len(singles)} 1 x 2 runs", **{k: mean(singles, k) for k in keys}})
    dist_default = next((r for r in results if r["name"].startswith("2 processes x 1 thread")), None)
    if dist_default is not None:
        print_projection(dist_default)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(results, fh, indent=1)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
