"""Evaluation of word vectors: analogy accuracy and word-similarity correlation.

- Analogies (questions-words format, ": section" headers, lines "a b c d" meaning a:b :: c:d):
  the answer is argmax_x cos(x, b - a + c) over the unit vectors of the first ``restrict_vocab``
  words, a, b and c excluded (3CosAdd; ``method="mul"`` uses 3CosMul). Questions with a word
  outside those ``restrict_vocab`` words are skipped and counted. Case-insensitive matching maps
  each upper-cased word to its most frequent spelling, as gensim does.
- Similarity (WordSim353 / SimLex-999: "w1<TAB>w2<TAB>score", "#" comments): Spearman and
  Pearson correlation between human scores and cosine similarities; out-of-vocabulary pairs are
  reported and left out.
Results are plain dicts.
"""
from __future__ import annotations

import os

import numpy as np

from ._common import NegsampleError

__all__ = ["evaluate_analogies", "evaluate_similarity", "read_analogies", "read_similarity_pairs"]


def _read_lines(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NegsampleError(f"evaluation file not found: {path}")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()
    except OSError as exc:
        raise NegsampleError(f"cannot read evaluation file {path}: {exc.strerror}") from None


def read_analogies(path):
    """[(section, [(a, b, c, d), ...]), ...] from a questions-words file."""
    sections = []
    current = None
    for lineno, line in enumerate(_read_lines(path), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            current = (line[1:].strip(), [])
            sections.append(current)
            continue
        parts = line.split()
        if len(parts) != 4:
            raise NegsampleError(f"{path}: line {lineno} is not 'a b c d': {line[:80]!r}")
        if current is None:
            current = ("(no section)", [])
            sections.append(current)
        current[1].append(tuple(parts))
    if not any(q for _, q in sections):
        raise NegsampleError(f"{path}: no analogy questions found")
    return sections


def read_similarity_pairs(path):
    """[(w1, w2, score), ...] from a WordSim353/SimLex style file (tab or whitespace separated)."""
    pairs = []
    for lineno, line in enumerate(_read_lines(path), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 3:
            raise NegsampleError(f"{path}: line {lineno} is not 'word1 word2 score': {line[:80]!r}")
        try:
            score = float(parts[2])
        except ValueError:
            raise NegsampleError(f"{path}: line {lineno} has a non-numeric score {parts[2]!r}") from None
        pairs.append((parts[0].strip(), parts[1].strip(), score))
    if not pairs:
        raise NegsampleError(f"{path}: no word pairs found")
    return pairs


def _vocab_map(kv, restrict_vocab, case_insensitive):
    keys = kv.index_to_key[: (len(kv) if restrict_vocab is None else int(restrict_vocab))]
    if case_insensitive:
        # the most frequent spelling wins (iterate from least to most frequent)
        return {k.upper(): i for i, k in reversed(list(enumerate(keys)))}, str.upper
    return {k: i for i, k in enumerate(keys)}, (lambda s: s)


def _check_restrict(restrict_vocab):
    if restrict_vocab is not None and (isinstance(restrict_vocab, bool) or int(restrict_vocab) != restrict_vocab
                                       or int(restrict_vocab) < 1):
        raise NegsampleError(f"restrict_vocab must be a positive integer, got {restrict_vocab!r}")


def evaluate_analogies(kv, path, restrict_vocab=30000, case_insensitive=True, method="add",
                       batch_size=256):
    """Analogy accuracy per section and in total (see module docstring)."""
    _check_restrict(restrict_vocab)
    if method not in ("add", "mul"):
        raise NegsampleError(f"method must be 'add' or 'mul', got {method!r}")
    vocab, norm = _vocab_map(kv, restrict_vocab, case_insensitive)
    R = len(kv) if restrict_vocab is None else min(int(restrict_vocab), len(kv))
    W = kv.get_normed_vectors()[:R]
    result = {"sections": {}, "correct": 0, "attempted": 0, "skipped_oov": 0}
    sem = [0, 0]
    syn = [0, 0]
    for name, questions in read_analogies(path):
        idx = []
        skipped = 0
        for q in questions:
            ids = [vocab.get(norm(w)) for w in q]
            if any(i is None for i in ids):
                skipped += 1
            else:
                idx.append(ids)
        correct = 0
        if idx:
            idx = np.asarray(idx, dtype=np.int64)
            for s in range(0, len(idx), batch_size):
                blk = idx[s:s + batch_size]
                a, b, c, d = blk.T
                if method == "add":
                    scores = (W[b] - W[a] + W[c]) @ W.T
                else:
                    pa, pb, pc = [(1.0 + W[x] @ W.T) / 2.0 for x in (a, b, c)]
                    scores = pb * pc / (pa + 1e-6)
                rows = np.arange(len(blk))
                for col in (a, b, c):
                    scores[rows, col] = -np.inf
                pred = np.argmax(scores, axis=1)
                correct += int(np.sum(pred == d))
        attempted = len(idx)
        result["sections"][name] = {"accuracy": correct / attempted if attempted else float("nan"),
                                    "correct": correct, "attempted": attempted, "skipped_oov": skipped}
        result["correct"] += correct
        result["attempted"] += attempted
        result["skipped_oov"] += skipped
        bucket = syn if name.startswith("gram") or name.startswith("msr") else sem
        bucket[0] += correct
        bucket[1] += attempted
    result["total"] = result["correct"] / result["attempted"] if result["attempted"] else float("nan")
    result["semantic"] = sem[0] / sem[1] if sem[1] else float("nan")
    result["syntactic"] = syn[0] / syn[1] if syn[1] else float("nan")
    result["oov_ratio"] = result["skipped_oov"] / max(1, result["skipped_oov"] + result["attempted"])
    return result


def evaluate_similarity(kv, path, case_insensitive=True, restrict_vocab=300000):
    """Spearman/Pearson of cosine similarity against human scores; OOV pairs reported."""
    _check_restrict(restrict_vocab)
    vocab, norm = _vocab_map(kv, restrict_vocab, case_insensitive)
    W = kv.get_normed_vectors()
    human, model, oov = [], [], []
    pairs = read_similarity_pairs(path)
    for a, b, score in pairs:
        ia, ib = vocab.get(norm(a)), vocab.get(norm(b))
        if ia is None or ib is None:
            oov.append((a, b))
            continue
        human.append(score)
        model.append(float(W[ia] @ W[ib]))
    out = {"pairs": len(pairs), "evaluated": len(human), "oov_pairs": len(oov),
           "oov_ratio": len(oov) / len(pairs), "oov_examples": oov[:10]}
    if len(human) >= 3:
        from scipy import stats  # imported here: loading vectors and analogies need no scipy

        sp, pe = stats.spearmanr(human, model), stats.pearsonr(human, model)
        out["spearman"], out["spearman_pvalue"] = float(sp.statistic), float(sp.pvalue)
        out["pearson"], out["pearson_pvalue"] = float(pe.statistic), float(pe.pvalue)
    else:
        out["spearman"] = out["pearson"] = out["spearman_pvalue"] = out["pearson_pvalue"] = float("nan")
    return out
