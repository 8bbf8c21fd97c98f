"""Corpus preparation: speed, memory and exactness of negsample.corpus.prepare_corpus (one pass,
compiled) against the Python pipeline (word2vec.build_vocab + encode_corpus) and gensim's
vocabulary scan; the effect of the bounded count table (max_types) on the counts; and a synthetic
corpus with very many distinct tokens counted in bounded memory.

    .venv/bin/python benchmarks/bench_corpus.py                        # all parts
    .venv/bin/python benchmarks/bench_corpus.py --parts speed          # speed only
    .venv/bin/python benchmarks/bench_corpus.py --parts many --types 100000000

Each measured run is its own process (clean peak RSS from wait4). min_count 5 throughout.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.abspath(os.environ.get("NEGSAMPLE_SHARED_DATA") or next(
    (p for p in (os.path.join(HERE, "..", "..", "shared", "data"), os.path.join(HERE, "..", "..", "..", "shared", "data"))
     if os.path.isdir(p)), os.path.join(HERE, "..", "..", "shared", "data")))

WORKER = r"""
import json, os, sys, time, resource
import numpy as np
kind, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
opts = json.loads(sys.argv[4])
t0 = time.perf_counter()
res = {}
if kind == "ours":
    from negsample.corpus import prepare_corpus
    with open(out, "w+b") as fh:
        pc = prepare_corpus(path, min_count=5, out=fh, **opts)
    res.update(stats=pc.stats, vocab=len(pc.vocab))
    np.save(out + ".offsets.npy", pc.offsets)
    with open(out + ".vocab.json", "w") as f:
        json.dump([pc.vocab.words, pc.vocab.counts.tolist(), pc.vocab.raw_words, pc.vocab.lines,
                   pc.vocab.bad_lines], f)
elif kind == "python":
    from negsample.word2vec import build_vocab, encode_corpus
    v = build_vocab(path, min_count=5, warn=False)
    t1 = time.perf_counter()
    with open(out, "w+b") as fh:
        _, offsets = encode_corpus(path, v, fh)
    res.update(count_seconds=t1 - t0, encode_seconds=time.perf_counter() - t1, vocab=len(v))
    np.save(out + ".offsets.npy", offsets)
    with open(out + ".vocab.json", "w") as f:
        json.dump([v.words, v.counts.tolist(), v.raw_words, v.lines, v.bad_lines], f)
elif kind == "gensim":
    from gensim.models import Word2Vec
    m = Word2Vec(vector_size=100, min_count=5, sg=1, workers=2)
    m.build_vocab(corpus_file=path)
    res.update(vocab=len(m.wv))
res["seconds"] = time.perf_counter() - t0
res["numba_loaded"] = "numba" in sys.modules
print("RESULT " + json.dumps(res))
"""


def run(kind, path, out, **opts):
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        proc = subprocess.Popen([sys.executable, "-c", WORKER, kind, path, out, json.dumps(opts)], stdout=fo,
                                stderr=fe)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        fo.seek(0)
        fe.seek(0)
        text, err = fo.read().decode(), fe.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(err[-3000:])
        raise SystemExit(f"{kind} failed")
    res = json.loads([ln for ln in text.splitlines() if ln.startswith("RESULT ")][-1][7:])
    res.update(wall=wall, rss_mb=usage.ru_maxrss / 1024.0, cpu=usage.ru_utime + usage.ru_stime)
    return res


def same_output(a, b):
    import numpy as np

    va, vb = json.load(open(a + ".vocab.json")), json.load(open(b + ".vocab.json"))
    return (va == vb and np.array_equal(np.load(a + ".offsets.npy"), np.load(b + ".offsets.npy"))
            and np.array_equal(np.fromfile(a, np.int32), np.fromfile(b, np.int32)))


def part_speed(args, workdir):
    import lzma
    import shutil

    plain = os.path.join(workdir, "corpus-en.txt")
    with lzma.open(args.corpus, "rb") as fin, open(plain, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    print("\n[speed] corpus-en, min_count 5 (one process each; seconds = whole process incl. imports)")
    rows = {}
    for label, kind, path in (("ours, plain", "ours", plain), ("ours, .xz", "ours", args.corpus),
                              ("Python pipeline, plain", "python", plain), ("gensim build_vocab, plain", "gensim", plain)):
        out = os.path.join(workdir, f"{kind}-{os.path.basename(path)}.ids")
        r = run(kind, path, out)
        r["out"] = out
        rows[label] = r
        extra = ""
        if kind == "ours":
            st = r["stats"]
            extra = (f"; read {st['read_seconds']:.2f} s (reader thread), scan {st['scan_seconds']:.2f} s, "
                     f"vocabulary {st['vocab_seconds']:.2f} s, remap {st['encode_seconds']:.2f} s, "
                     f"{st['bytes'] / 1e6 / st['scan_seconds']:.0f} MB/s scanned; numba loaded: {r['numba_loaded']}")
        elif kind == "python":
            extra = f"; count {r['count_seconds']:.2f} s, encode {r['encode_seconds']:.2f} s"
        print(f"  {label:<26} wall {r['wall']:6.2f} s, CPU {r['cpu']:6.2f} s, peak RSS {r['rss_mb']:5.0f} MB, vocab "
              f"{r['vocab']}{extra}",
              flush=True)
    ident = same_output(rows["ours, plain"]["out"], rows["Python pipeline, plain"]["out"])
    ident_xz = same_output(rows["ours, .xz"]["out"], rows["Python pipeline, plain"]["out"])
    print(f"  identical vocabulary, ids and offsets to the Python pipeline: plain {ident}, xz {ident_xz}")
    for key in ("wall", "cpu"):
        print(f"  speed-up ({key}): {rows['Python pipeline, plain'][key] / rows['ours, plain'][key]:.1f}x the Python "
              f"pipeline, {rows['gensim build_vocab, plain'][key] / rows['ours, plain'][key]:.1f}x gensim's "
              "vocabulary scan (which does not encode)")
    return {k: {kk: vv for kk, vv in v.items() if kk != "out"} for k, v in rows.items()}


def part_prune(args, workdir):
    import numpy as np

    plain = os.path.join(workdir, "corpus-en.txt")
    if not os.path.exists(plain):
        import lzma
        import shutil

        with lzma.open(args.corpus, "rb") as fin, open(plain, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    print("\n[prune] corpus-en, min_count 5, count table bounded at max_types (the C tool's ReduceVocab)")
    exact = None
    out = {}
    for mt in [None] + args.max_types:
        path = os.path.join(workdir, f"prune-{mt}.ids")
        r = run("ours", plain, path, max_types=mt)
        words, counts = json.load(open(path + ".vocab.json"))[:2]
        c = dict(zip(words, counts))
        if exact is None:
            exact, top = c, set(words[:10000])
        lost = set(exact) - set(c)
        changed = [w for w in c if c[w] != exact.get(w)]
        rel = np.array([(exact[w] - c[w]) / exact[w] for w in changed]) if changed else np.zeros(1)
        row = {"max_types": mt, "prune_rounds": r["stats"]["prune_rounds"], "passes": r["stats"]["passes"],
               "vocab": len(c), "lost": len(lost), "changed": len(changed), "mean_undercount": float(rel.mean()),
               "max_undercount": float(rel.max()), "top10k_changed": sum(1 for w in top if c.get(w) != exact[w]),
               "wall": r["wall"], "rss_mb": r["rss_mb"]}
        out[str(mt)] = row
        print(f"  max_types {str(mt):>9}: {row['prune_rounds']:3d} rounds, {row['passes']} passes, vocabulary "
              f"{row['vocab']:6d} ({row['lost']} lost), {row['changed']} counts changed (mean undercount "
              f"{100 * row['mean_undercount']:.1f}%, max {100 * row['max_undercount']:.1f}%), top-10k changed "
              f"{row['top10k_changed']}; {row['wall']:.1f} s, {row['rss_mb']:.0f} MB", flush=True)
    return out


def make_many_types(path, n_unique, core=50_000, per_line=(10, 5), seed=0):
    """Lines of 10 unique tokens ('u' + 8 letters, each occurring once) and 5 Zipf-distributed
    core tokens ('c' + 5 letters). Returns the true counts of the core tokens."""
    import numpy as np

    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    nu, nc = per_line
    lines_total = n_unique // nu
    true = np.zeros(core, np.int64)
    with open(path, "wb") as fh:
        done = 0
        while done < lines_total:
            L = min(200_000, lines_total - done)
            uid = np.arange(done * nu, (done + L) * nu, dtype=np.int64)
            u = np.empty((L * nu, 10), np.uint8)
            u[:, 0] = ord("u")
            x = uid.copy()
            for k in range(8, 0, -1):
                u[:, k] = letters[x % 26]
                x //= 26
            u[:, 9] = ord(" ")
            cid = np.minimum(rng.zipf(1.2, L * nc) - 1, core - 1)
            np.add.at(true, cid, 1)
            c = np.empty((L * nc, 7), np.uint8)
            c[:, 0] = ord("c")
            x = cid.copy()
            for k in range(5, 0, -1):
                c[:, k] = letters[x % 26]
                x //= 26
            c[:, 6] = ord(" ")
            line = np.concatenate([u.reshape(L, nu * 10), c.reshape(L, nc * 7)], axis=1)
            line[:, -1] = ord("\n")
            fh.write(line.tobytes())
            done += L
    return true


def part_many(args, workdir):
    import numpy as np

    path = os.path.join(workdir, "many.txt")
    t0 = time.perf_counter()
    true = make_many_types(path, args.types)
    size = os.path.getsize(path)
    print(f"\n[many] synthetic corpus: {args.types:,} distinct single-use tokens + a Zipf core of 50,000 words, "
          f"{size / 1e9:.2f} GB (generated in {time.perf_counter() - t0:.0f} s)")
    out = {}
    for mt in args.many_max_types:
        ids = os.path.join(workdir, f"many-{mt}.ids")
        r = run("ours", path, ids, max_types=mt)
        words, counts = json.load(open(ids + ".vocab.json"))[:2]
        idx = np.array([sum((ord(ch) - 97) * 26 ** (4 - i) for i, ch in enumerate(w[1:])) for w in words
                        if w.startswith("c")], np.int64)
        got = np.array([c for w, c in zip(words, counts) if w.startswith("c")], np.int64)
        kept_true = true >= 5
        exact = int(np.sum(true[idx] == got))
        row = {"max_types": mt, "wall": r["wall"], "rss_mb": r["rss_mb"], "prune_rounds": r["stats"]["prune_rounds"],
               "passes": r["stats"]["passes"], "vocab": len(words), "core_in_vocab": int(idx.size),
               "core_true_min5": int(kept_true.sum()), "core_counts_exact": exact,
               "unique_in_vocab": sum(1 for w in words if w.startswith("u"))}
        out[str(mt)] = row
        print(f"  max_types {str(mt):>10}: {r['wall']:6.1f} s (CPU {r['cpu']:.1f} s), peak RSS {r['rss_mb']:6.0f} MB, "
              f"{row['prune_rounds']} "
              f"prune rounds, {row['passes']} passes; vocabulary {row['vocab']} ({row['core_in_vocab']} of the "
              f"{row['core_true_min5']} core words with count >= 5; {exact} with exact counts)", flush=True)
        os.unlink(ids)
    os.unlink(path)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.path.join(SHARED, "text", "corpus-en.txt.xz"))
    ap.add_argument("--parts", nargs="+", default=["speed", "prune", "many"], choices=["speed", "prune", "many"])
    ap.add_argument("--max-types", type=int, nargs="+", default=[200_000, 150_000, 100_000, 50_000])
    ap.add_argument("--types", type=int, default=100_000_000, help="distinct tokens of the synthetic corpus")
    ap.add_argument("--many-max-types", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--json-out")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-corpus-")
    subprocess.run([sys.executable, "-c", "from negsample.kernels import native; native.load()"], check=True)
    res = {}
    if "speed" in args.parts:
        res["speed"] = part_speed(args, workdir)
    if "prune" in args.parts:
        res["prune"] = part_prune(args, workdir)
    if "many" in args.parts:
        res["many"] = part_many(args, workdir)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
