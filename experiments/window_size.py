"""Window size: do small windows favour syntactic analogies and large ones topical similarity?

Real data: the first 4M tokens of corpus-en (its lines are shuffled, so a prefix mixes every
source), skip-gram with negsample's Word2Vec (dim 100, k = 5, sample 1e-4, min_count 5,
3 epochs, 2 threads, shared negatives), windows 1, 2, 5, 10 (dynamic: b ~ U{1..window}); a
wider window trains more pairs per token (w + 1), so a second arm gives windows 2 and 5 the
pairs budget of window 10 (11 and 6 epochs).
Evaluated on the Google analogies (syntactic "gram*" vs semantic sections, 3CosAdd, the 30k
most frequent words), the MSR syntactic analogies, WordSim353 (relatedness and similarity mixed)
and SimLex-999 (similarity only). A subset and 3 epochs because the machine is shared (2 cores);
the numbers are lower than for a full corpus-en run, but every window gets the same budget.

Synthetic check (the CI test): sentences alternate function words and content words; the
function word before a content word is fixed by the content word's role (as "the" before nouns),
and every content word of a sentence comes from one topic. A window of 1 sees only function
words, which carry the role and no topic; a wide window sees the topic's other content words.
Score: among each content word's 3 nearest content words, the share with its role (syntactic)
and the share with its topic (topical).

    .venv/bin/python experiments/window_size.py      # docs/experiments/window_size.*
"""
from __future__ import annotations

import lzma
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

from negsample.word2vec import Word2Vec  # noqa: E402

NAME = "window_size"
SCALES = {
    "full": dict(windows=(1, 2, 5, 10), tokens=4_000_000, epochs=3, synthetic_windows=(1, 2, 4, 8),
                 synthetic_sentences=4000, real=True),
    "ci": dict(synthetic_windows=(1, 8), synthetic_sentences=1500, real=False),
}
TOPICS, ROLES = 5, 4


def synthetic_corpus(sentences, seed, slots=8):
    """Token lists: f<r> c<t>_<r> f<r+1> c<t>_<r+1> ... (roles cycle from a random start; one topic t
    per sentence)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(sentences):
        t = int(rng.integers(TOPICS))
        r0 = int(rng.integers(ROLES))
        s = []
        for j in range(slots):
            r = (r0 + j) % ROLES
            s += [f"f{r}", f"c{t}_{r}"]
        out.append(s)
    return out


def neighbour_scores(kv, topn=3):
    """(share of same-role, share of same-topic) among each content word's topn nearest content
    words."""
    words = [f"c{t}_{r}" for t in range(TOPICS) for r in range(ROLES)]
    X = np.array([kv[w] for w in words], dtype=np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    role = np.array([r for t in range(TOPICS) for r in range(ROLES)])
    topic = np.array([t for t in range(TOPICS) for r in range(ROLES)])
    nn = np.argsort(-S, axis=1)[:, :topn]
    return float(np.mean(role[nn] == role[:, None])), float(np.mean(topic[nn] == topic[:, None]))


def synthetic(windows, sentences, seed):
    corpus = synthetic_corpus(sentences, seed)
    rows = []
    for w in windows:
        m = Word2Vec(dim=16, window=w, negative=5, sample=0, min_count=1, epochs=5, threads=1, seed=seed + 1,
                     lr=0.025).fit(corpus, progress=False)
        syn, top = neighbour_scores(m.wv)
        rows.append({"window": w, "syntactic": syn, "topical": top})
    return rows


def corpus_subset(path, tokens, out_dir):
    """Write the first ``tokens`` tokens (whole lines) of a corpus to a temporary file."""
    out = os.path.join(out_dir, "corpus-subset.txt")
    n = 0
    with lzma.open(path, "rt", encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            dst.write(line)
            n += len(line.split())
            if n >= tokens:
                break
    return out, n


def real(windows, tokens, epochs, seed):
    from negsample.evaluate import evaluate_analogies, evaluate_similarity

    ev = os.path.join(_common.SHARED, "eval")
    corpus = os.path.join(_common.SHARED, "text", "corpus-en.txt.xz")
    if not os.path.exists(corpus):
        return None
    rows = []
    # arm 1: the same epochs for every window; arm 2: the same number of training pairs as the widest
    # window (a dynamic window of w gives w + 1 pairs per token, so epochs ~ (w_max + 1) / (w + 1))
    wmax = max(windows)
    runs = [("same epochs", w, epochs) for w in windows] + \
        [("same pairs", w, int(round(epochs * (wmax + 1) / (w + 1)))) for w in windows if 2 <= w < wmax]
    with tempfile.TemporaryDirectory(prefix="negsample-window-") as tmp:
        path, n = corpus_subset(corpus, tokens, tmp)
        for arm, w, ep in runs:
            m = Word2Vec(dim=100, window=w, negative=5, sample=1e-4, min_count=5, epochs=ep, threads=2,
                         seed=seed + 1).fit(path, progress=False)
            kv = m.wv
            g = evaluate_analogies(kv, os.path.join(ev, "questions-words.txt"), restrict_vocab=30000)
            msr = evaluate_analogies(kv, os.path.join(ev, "msr-analogies.txt"), restrict_vocab=30000)
            ws = evaluate_similarity(kv, os.path.join(ev, "wordsim353.tsv"))
            sl = evaluate_similarity(kv, os.path.join(ev, "simlex999.txt"))
            rows.append({"arm": arm, "epochs": ep, "window": w, "google_syntactic": g["syntactic"], "google_semantic": g["semantic"],
                         "google_total": g["total"], "msr_syntactic": msr["total"], "wordsim353": ws["spearman"],
                         "simlex999": sl["spearman"], "words_per_sec": m.stats["words_per_sec"],
                         "train_seconds": m.stats["train_seconds"]})
    return {"tokens": n, "epochs": epochs, "rows": rows}


def run(scale="full", seed=0, **overrides):
    s = dict(SCALES[scale], **overrides)
    res = {"scale": scale, "synthetic": synthetic(s["synthetic_windows"], s["synthetic_sentences"], seed)}
    if s["real"]:
        res["real"] = real(s["windows"], s["tokens"], s["epochs"], seed)
    return res


def table(res):
    md = ""
    if res.get("real"):
        r = res["real"]
        md += (f"corpus-en, first {r['tokens']:,} tokens:\n\n" + _common.markdown_table(
            ["budget", "window", "epochs", "Google syntactic", "Google semantic", "Google total", "MSR (syntactic)",
             "WordSim353", "SimLex-999", "train s"],
            [(x["arm"], x["window"], x["epochs"], x["google_syntactic"], x["google_semantic"], x["google_total"], x["msr_syntactic"],
              x["wordsim353"], x["simlex999"], f"{x['train_seconds']:.0f}") for x in r["rows"]]) + "\n")
    elif "real" in res:
        md += "corpus-en not found (../shared/data): real-data part skipped.\n\n"
    md += "Synthetic corpus (roles by function words, topics by sentence), 3 nearest content words:\n\n"
    md += _common.markdown_table(["window", "same role (syntactic)", "same topic (topical)"],
                                 [(x["window"], x["syntactic"], x["topical"]) for x in res["synthetic"]])
    return md


def figure(res, path):
    plt = _common.pyplot()
    n = 2 if res.get("real") else 1
    fig, ax = plt.subplots(1, n, figsize=(5.5 * n, 4), squeeze=False)
    ax = ax[0]
    syn = res["synthetic"]
    ax[0].plot([x["window"] for x in syn], [x["syntactic"] for x in syn], "o-", label="same role (syntactic)")
    ax[0].plot([x["window"] for x in syn], [x["topical"] for x in syn], "s-", label="same topic (topical)")
    ax[0].set_xlabel("window")
    ax[0].set_ylabel("share of the 3 nearest content words")
    ax[0].set_title("synthetic corpus")
    ax[0].legend()
    if n == 2:
        rows = [x for x in res["real"]["rows"] if x["arm"] == "same epochs"]
        w = [x["window"] for x in rows]
        for key, lab in (("google_syntactic", "Google syntactic"), ("msr_syntactic", "MSR syntactic"),
                         ("google_semantic", "Google semantic"), ("wordsim353", "WordSim353 (rho)"),
                         ("simlex999", "SimLex-999 (rho)")):
            ax[1].plot(w, [x[key] for x in rows], "o-", label=lab)
        ax[1].set_xscale("log", base=2)
        ax[1].set_xlabel("window")
        ax[1].set_title(f"corpus-en, {res['real']['tokens'] / 1e6:.0f}M tokens, {res['real']['epochs']} epochs")
        ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    _common.main_for(NAME, run, table, figure, __doc__.splitlines()[0])
