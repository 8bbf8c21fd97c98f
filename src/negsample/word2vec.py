"""word2vec: skip-gram with negative sampling (SGNS) on a streamed corpus.

Pipeline (DESIGN.md section 3): corpus file -> vocabulary (min_count, max_vocab, ordered by
frequency) -> the corpus encoded once to a compact int32 id file on disk (read back chunk by chunk
during training, so a corpus larger than RAM works; out-of-vocabulary tokens are dropped, sentence boundaries kept)
-> numba kernels (``negsample.kernels.sgns``) run by Python threads on disjoint sentence ranges
with the GIL released (Hogwild) -> ``negsample.vectors.KeyedVectors``. The kernels run from a
native library compiled once per machine from the same numba source
(``negsample.kernels.native``), so training never loads numba/LLVM; the JIT is the fallback.

Noise: q(w) = count(w)^alpha / Z (alias method). Subsampling: keep w with
p = min(1, sqrt(t/f) + t/f). Learning rate: linear decay from ``lr`` to ``min_lr`` over all
epochs, updated per chunk of about ``chunk_words`` words. Words/s counts raw corpus words
(every token of the input, in vocabulary or not) per second of training.
"""
from __future__ import annotations

import bz2
import ctypes
import gc
from array import array
import gzip
import io
import json
import lzma
import os
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from ._common import (NegsampleError, Progress, atomic_write, check_finite_float,
                      check_positive_int)
from .distributions import AliasTable, subsample_keep_prob, unigram
from .kernels import native

__all__ = ["Word2Vec", "Vocabulary", "train_sgns", "open_corpus", "iter_sentences", "build_vocab"]

NEGATIVE_MODES = ("shared", "per-example")
ARCHITECTURES = ("skipgram", "cbow")
# CBOW averages the context vectors, so each input row gets a smaller share of the signal: the
# C tool starts it at 0.05. Measured on 7M words of corpus-en (3 epochs): CBOW at 0.05 scores 11.1%
# on the Google analogies, at 0.025 3.7% (gensim's CBOW at its default 0.025: 5.7%).
DEFAULT_LR = {"skipgram": 0.025, "cbow": 0.05}


# --------------------------------------------------------------------------- corpus reading

def open_corpus(path):
    """Open a text corpus (plain, .gz, .bz2, .xz) for binary reading, with clear errors."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NegsampleError(f"corpus not found: {path}")
    if os.path.isdir(path):
        raise NegsampleError(f"corpus is a directory, not a file: {path}")
    if not os.access(path, os.R_OK):
        raise NegsampleError(f"corpus is not readable (permission denied): {path}")
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(os.path.splitext(path)[1].lower(), open)
    try:
        fh = opener(path, "rb")
        fh.peek(1) if hasattr(fh, "peek") else None
    except (OSError, lzma.LZMAError, EOFError) as exc:
        raise NegsampleError(f"cannot read corpus {path}: {exc}") from None
    return fh


class _LineStats:
    def __init__(self):
        self.lines = 0
        self.bad_lines = 0
        self.tokens = 0


def iter_sentences(source, stats: _LineStats | None = None):
    """Yield token lists. ``source``: a path, or an iterable of token lists / strings.

    Files are decoded as UTF-8 with replacement; lines with undecodable bytes are counted in
    ``stats.bad_lines``.
    """
    stats = stats if stats is not None else _LineStats()
    if isinstance(source, (str, os.PathLike)):
        fh = open_corpus(source)
        try:
            for raw in fh:
                stats.lines += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    stats.bad_lines += 1
                    line = raw.decode("utf-8", errors="replace")
                toks = line.split()
                if toks:
                    stats.tokens += len(toks)
                    yield toks
        except (OSError, lzma.LZMAError, EOFError) as exc:
            raise NegsampleError(f"corpus {os.fspath(source)} is corrupt or truncated after "
                                 f"{stats.lines} lines: {exc}") from None
        finally:
            fh.close()
    else:
        for sent in source:
            stats.lines += 1
            toks = sent.split() if isinstance(sent, str) else [str(t) for t in sent]
            if toks:
                stats.tokens += len(toks)
                yield toks


# --------------------------------------------------------------------------- vocabulary

@dataclass
class Vocabulary:
    """Words ordered by decreasing count (ties broken alphabetically), with their counts."""

    words: list
    counts: np.ndarray  # (V,) int64
    raw_words: int       # all tokens in the corpus, in vocabulary or not
    lines: int
    index: dict = field(default=None, repr=False)

    def __post_init__(self):
        if self.index is None:
            self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self):
        return len(self.words)


def build_vocab(source, min_count=5, max_vocab=None, warn=True) -> Vocabulary:
    """Count tokens and keep those with count >= min_count (the max_vocab most frequent)."""
    min_count = check_positive_int("min_count", min_count)
    if max_vocab is not None:
        max_vocab = check_positive_int("max_vocab", max_vocab)
    stats = _LineStats()
    counter: Counter = Counter()
    for toks in iter_sentences(source, stats):
        counter.update(toks)
    if stats.tokens == 0:
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "input"
        raise NegsampleError(f"corpus is empty: no tokens in {name}")
    if stats.bad_lines and warn:
        warnings.warn(f"corpus: {stats.bad_lines} of {stats.lines} lines had invalid UTF-8 bytes "
                      "(decoded with replacement characters)", stacklevel=2)
    items = [(w, c) for w, c in counter.items() if c >= min_count]
    n_types = len(counter)
    del counter
    if not items:
        raise NegsampleError(f"no word reaches min_count={min_count} ({n_types} distinct words in "
                             f"{stats.tokens} tokens); lower --min-count")
    items.sort(key=lambda wc: (-wc[1], wc[0]))
    if max_vocab is not None:
        items = items[:max_vocab]
    vocab = Vocabulary([w for w, _ in items], np.array([c for _, c in items], dtype=np.int64),
                       raw_words=stats.tokens, lines=stats.lines)
    vocab.bad_lines = stats.bad_lines
    return vocab


def encode_corpus(source, vocab: Vocabulary, path=None):
    """Encode the corpus to int32 ids (OOV dropped) in a file; training reads it chunk by chunk,
    so only the offsets (8 bytes per sentence) stay in memory.

    Returns (path of the id file, offsets (S+1,) int64, path). Empty sentences are dropped.
    """
    index = vocab.index
    if path is None:
        fd, path = tempfile.mkstemp(prefix="negsample-corpus-", suffix=".int32")
        os.close(fd)
    offsets = array("q", [0])  # compact: 8 bytes per sentence, not a Python int object
    total = 0
    with open(path, "wb") as out:
        pending = array("i")  # int32 ids waiting to be written
        for toks in iter_sentences(source):
            n0 = len(pending)
            pending.extend([index[t] for t in toks if t in index])
            n = len(pending) - n0
            if not n:
                continue
            total += n
            offsets.append(total)
            if len(pending) >= 1 << 18:
                pending.tofile(out)
                pending = array("i")
        if pending:
            pending.tofile(out)
    if total == 0:
        raise NegsampleError("no in-vocabulary tokens left to train on")
    return path, np.frombuffer(offsets, dtype=np.int64).copy(), path


def _release_memory():
    """Return the vocabulary counter's freed heap to the OS before the big arrays are allocated."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


# --------------------------------------------------------------------------- training core

def _chunks(offsets, chunk_words):
    """Split sentences into chunks of about chunk_words tokens: list of (s_begin, s_end)."""
    bounds = []
    n_sent = offsets.size - 1
    targets = np.arange(chunk_words, offsets[-1], chunk_words)
    cuts = np.searchsorted(offsets, targets, side="left")
    prev = 0
    for c in cuts:
        c = int(min(max(c, prev + 1), n_sent))
        if c > prev:
            bounds.append((prev, c))
            prev = c
    if prev < n_sent:
        bounds.append((prev, n_sent))
    return bounds


@dataclass
class _Config:
    dim: int = 100
    window: int = 5
    negative: int = 5
    ns_exponent: float = 0.75
    sample: float = 1e-4
    min_count: int = 5
    max_vocab: int | None = None
    epochs: int = 5
    lr: float | None = None       # None: 0.025 for skip-gram, 0.05 for CBOW (the C tool's defaults)
    min_lr: float = 0.0001
    threads: int = 2
    seed: int = 1
    negatives: str = "shared"
    chunk_words: int = 100_000
    arch: str = "skipgram"


def _validate(cfg: _Config) -> _Config:
    cfg.dim = check_positive_int("dim", cfg.dim)
    cfg.window = check_positive_int("window", cfg.window)
    cfg.negative = check_positive_int("negative", cfg.negative)
    cfg.ns_exponent = check_finite_float("ns_exponent", cfg.ns_exponent, minimum=0.0)
    cfg.sample = check_finite_float("sample", cfg.sample, minimum=0.0)
    cfg.min_count = check_positive_int("min_count", cfg.min_count)
    if cfg.max_vocab is not None:
        cfg.max_vocab = check_positive_int("max_vocab", cfg.max_vocab)
    cfg.epochs = check_positive_int("epochs", cfg.epochs)
    if cfg.arch not in ARCHITECTURES:
        raise NegsampleError(f"arch must be one of {ARCHITECTURES}, got {cfg.arch!r}")
    if cfg.lr is None:
        cfg.lr = DEFAULT_LR[cfg.arch]
    cfg.lr = check_finite_float("lr", cfg.lr, minimum=0.0, strict_min=True)
    cfg.min_lr = check_finite_float("min_lr", cfg.min_lr, minimum=0.0)
    if cfg.min_lr > cfg.lr:
        raise NegsampleError(f"min_lr ({cfg.min_lr}) must not exceed lr ({cfg.lr})")
    cfg.threads = check_positive_int("threads", cfg.threads)
    cfg.seed = check_positive_int("seed", cfg.seed, minimum=0)
    cfg.chunk_words = check_positive_int("chunk_words", cfg.chunk_words)
    if cfg.negatives not in NEGATIVE_MODES:
        raise NegsampleError(f"negatives must be one of {NEGATIVE_MODES}, got {cfg.negatives!r}")
    return cfg


def _init_weights(V, dim, seed):
    """word2vec's init: W_in ~ U(-0.5/d, 0.5/d), W_out = 0."""
    rng = np.random.default_rng(seed)
    W_in = ((rng.random((V, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
    W_out = np.zeros((V, dim), dtype=np.float32)
    return W_in, W_out


def _train_epochs(W_in, W_out, ids, offsets, counts, cfg: _Config, raw_words_per_epoch,
                  first_epoch=0, on_epoch_end=None, progress=True, desc="train"):
    """Run epochs first_epoch..cfg.epochs-1. Returns dict of stats for the epochs run."""
    V = W_in.shape[0]
    table = AliasTable(unigram(counts, cfg.ns_exponent), name="noise weights")
    keep = subsample_keep_prob(counts, cfg.sample).astype(np.float32) if cfg.sample > 0 \
        else np.ones(V, dtype=np.float32)
    kernel = native.sgns_kernel(cfg.negatives, cfg.arch)
    chunks = _chunks(offsets, cfg.chunk_words)
    chunk_tokens = np.array([offsets[e] - offsets[b] for b, e in chunks], dtype=np.float64)
    tokens_per_epoch = float(offsets[-1])
    scale_raw = raw_words_per_epoch / tokens_per_epoch  # raw words per in-vocab token
    total_tokens = tokens_per_epoch * cfg.epochs
    lock = threading.Lock()
    state = {"done": tokens_per_epoch * first_epoch, "loss": 0.0, "terms": 0.0, "pairs": 0.0}
    bar = Progress(total=raw_words_per_epoch * cfg.epochs, unit="words", desc=desc, enabled=progress)
    bar.update(state["done"] * scale_raw)
    train_seconds = 0.0
    epochs_run = 0

    def run_chunk(epoch, ci):
        b, e = chunks[ci]
        with lock:
            frac = state["done"] / total_tokens
        lr = max(cfg.lr - (cfg.lr - cfg.min_lr) * frac, cfg.min_lr)
        st = np.zeros(3, dtype=np.float64)
        seed = (cfg.seed * 1_000_003 + epoch) * 1_000_033 + ci
        lo, hi = int(offsets[b]), int(offsets[e])
        if isinstance(ids, str):  # encoded corpus on disk: read just this chunk (bounded memory)
            chunk_ids = np.fromfile(ids, dtype=np.int32, count=hi - lo, offset=4 * lo)
        else:
            chunk_ids = ids[lo:hi]
        local_offsets = offsets[b:e + 1] - lo
        kernel(W_in, W_out, chunk_ids, local_offsets, 0, e - b, keep, table.prob, table.alias,
               cfg.window, cfg.negative, float(lr), seed, st)
        with lock:
            state["done"] += chunk_tokens[ci]
            state["pairs"] += st[0]
            state["loss"] += st[1]
            state["terms"] += st[2]
            recent = st[1] / st[2] if st[2] else float("nan")
            bar.update(state["done"] * scale_raw, lr=lr, loss=recent)

    losses = []
    for epoch in range(first_epoch, cfg.epochs):
        t0 = time.perf_counter()
        loss0, terms0 = state["loss"], state["terms"]
        if cfg.threads == 1:
            for ci in range(len(chunks)):
                run_chunk(epoch, ci)
        else:
            with ThreadPoolExecutor(max_workers=cfg.threads) as pool:
                list(pool.map(lambda ci: run_chunk(epoch, ci), range(len(chunks))))
        train_seconds += time.perf_counter() - t0
        epochs_run += 1
        dl, dt = state["loss"] - loss0, state["terms"] - terms0
        losses.append(dl / dt if dt else float("nan"))
        if on_epoch_end is not None:
            on_epoch_end(epoch, losses[-1])
    bar.close()
    raw = raw_words_per_epoch * epochs_run
    return {
        "train_seconds": train_seconds,
        "words_per_sec": raw / train_seconds if train_seconds > 0 else float("nan"),
        "kernel_backend": native.backend(),
        "raw_words_trained": raw,
        "pairs": state["pairs"],
        "loss": losses[-1] if losses else float("nan"),
        "epoch_losses": losses,
        "epochs_run": epochs_run,
    }


def train_sgns(ids, offsets, counts, *, dim=128, window=10, negative=5, ns_exponent=0.75, sample=0.0,
               epochs=1, lr=0.025, min_lr=None, threads=2, seed=1, negatives="shared", progress=False,
               chunk_words=100_000):
    """SGNS on integer sequences (e.g. graph walks). ids: (N,) int in [0, V); offsets: (S+1,)
    sentence boundaries; counts: (V,) used for the noise counts^ns_exponent and subsampling.
    Returns (W_in (V, dim) float32, W_out (V, dim) float32, stats dict)."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise NegsampleError(f"counts must be a non-empty 1-D array, got shape {counts.shape}")
    V = counts.size
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if ids.ndim != 1 or ids.size == 0:
        raise NegsampleError("ids must be a non-empty 1-D array of token ids")
    if ids.min() < 0 or ids.max() >= V:
        raise NegsampleError(f"token ids must lie in [0, {V}) (len(counts)), got [{ids.min()}, {ids.max()}]")
    if offsets.ndim != 1 or offsets.size < 2 or offsets[0] != 0 or offsets[-1] != ids.size \
            or np.any(np.diff(offsets) < 0):
        raise NegsampleError("offsets must start at 0, be non-decreasing and end at len(ids)")
    cfg = _validate(_Config(dim=dim, window=window, negative=negative, ns_exponent=ns_exponent,
                            sample=sample, min_count=1, epochs=epochs, lr=lr,
                            min_lr=lr * 1e-4 if min_lr is None else min_lr, threads=threads, seed=seed,
                            negatives=negatives, chunk_words=chunk_words))
    W_in, W_out = _init_weights(V, cfg.dim, cfg.seed)
    stats = _train_epochs(W_in, W_out, ids, offsets, counts, cfg, float(ids.size), progress=progress)
    return W_in, W_out, stats


# --------------------------------------------------------------------------- the estimator

class Word2Vec:
    """Skip-gram (or CBOW) with negative sampling.

    >>> model = Word2Vec(dim=100, window=5, negative=5, epochs=5).fit("corpus.txt.xz")
    >>> model.wv.most_similar("king")

    ``negatives="shared"`` (default) shares each window's k negatives among its context words
    (pWord2Vec); ``"per-example"`` draws k per pair like word2vec/gensim. ``arch="cbow"``
    trains CBOW instead (the mean of the context vectors predicts the centre word, k negatives
    per centre; gensim's ``sg=0, cbow_mean=1``); ``negatives`` does not apply to it.
    """

    def __init__(self, dim=100, window=5, negative=5, ns_exponent=0.75, sample=1e-4, min_count=5,
                 max_vocab=None, epochs=5, lr=None, min_lr=0.0001, threads=2, seed=1,
                 negatives="shared", chunk_words=100_000, arch="skipgram"):
        self.config = _validate(_Config(dim=dim, window=window, negative=negative,
                                        ns_exponent=ns_exponent, sample=sample, min_count=min_count,
                                        max_vocab=max_vocab, epochs=epochs, lr=lr, min_lr=min_lr,
                                        threads=threads, seed=seed, negatives=negatives,
                                        chunk_words=chunk_words, arch=arch))
        self.vocab: Vocabulary | None = None
        self.W_in = None
        self.W_out = None
        self.stats: dict = {}

    # ---------------------------------------------------------------- fit
    def fit(self, corpus, checkpoint_dir=None, resume=False, progress=True):
        """Train on a corpus path (plain/.gz/.bz2/.xz) or an iterable of token lists."""
        cfg = self.config
        t_start = time.perf_counter()
        ckpt = os.path.join(checkpoint_dir, "word2vec-checkpoint.npz") if checkpoint_dir else None
        first_epoch = 0
        if resume:
            if not ckpt:
                raise NegsampleError("resume needs a checkpoint directory")
            if os.path.exists(ckpt):
                first_epoch = self._load_checkpoint(ckpt)
            elif progress:
                print(f"no checkpoint in {checkpoint_dir}; starting from scratch", file=sys.stderr)
        if self.vocab is None or first_epoch == 0:
            self.vocab = build_vocab(corpus, cfg.min_count, cfg.max_vocab)
            _release_memory()
        bad = getattr(self.vocab, "bad_lines", 0)
        cache_dir = checkpoint_dir if checkpoint_dir else None
        if cache_dir:
            os.makedirs(cache_dir, exist_ok=True)
        fd, ids_path = tempfile.mkstemp(prefix="negsample-corpus-", suffix=".int32", dir=cache_dir)
        os.close(fd)
        try:
            ids, offsets, _ = encode_corpus(corpus, self.vocab, ids_path)
            prep_seconds = time.perf_counter() - t_start
            if self.W_in is None or first_epoch == 0:
                self.W_in, self.W_out = _init_weights(len(self.vocab), cfg.dim, cfg.seed)

            def on_epoch_end(epoch, loss):
                if ckpt:
                    self._save_checkpoint(ckpt, epoch + 1)

            if first_epoch >= cfg.epochs:
                st = {"train_seconds": 0.0, "words_per_sec": float("nan"), "loss": float("nan"),
                      "epochs_run": 0, "raw_words_trained": 0, "pairs": 0, "epoch_losses": []}
            else:
                st = _train_epochs(self.W_in, self.W_out, ids, offsets, self.vocab.counts, cfg,
                                   float(self.vocab.raw_words), first_epoch=first_epoch,
                                   on_epoch_end=on_epoch_end, progress=progress)
            del ids
        finally:
            try:
                os.unlink(ids_path)
            except OSError:
                pass
        self.stats = dict(st, vocab_size=len(self.vocab), raw_words=self.vocab.raw_words,
                          corpus_lines=self.vocab.lines, bad_utf8_lines=bad,
                          prep_seconds=prep_seconds, start_epoch=first_epoch, negatives=cfg.negatives,
                          arch=cfg.arch, threads=cfg.threads)
        return self

    # ---------------------------------------------------------------- outputs
    @property
    def wv(self):
        from .vectors import KeyedVectors

        if self.W_in is None:
            raise NegsampleError("model is not trained yet: call fit() first")
        return KeyedVectors(list(self.vocab.words), self.W_in)

    def save_vectors(self, path, binary=True):
        self.wv.save_word2vec_format(path, binary=binary)

    # ---------------------------------------------------------------- checkpoints
    def _save_checkpoint(self, path, epochs_done):
        meta = json.dumps({"config": asdict(self.config), "epochs_done": epochs_done,
                           "raw_words": self.vocab.raw_words, "lines": self.vocab.lines})
        with atomic_write(path, "wb") as fh:
            np.savez(fh, W_in=self.W_in, W_out=self.W_out, counts=self.vocab.counts,
                     words=np.array(self.vocab.words, dtype=object), meta=np.array(meta))

    def _load_checkpoint(self, path):
        try:
            with np.load(path, allow_pickle=True) as z:
                meta = json.loads(str(z["meta"]))
                W_in, W_out, counts, words = z["W_in"], z["W_out"], z["counts"], list(z["words"])
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable checkpoint
            raise NegsampleError(f"checkpoint {path} is unreadable: {exc}") from None
        saved = meta["config"]
        for key in ("arch", "dim", "window", "negative", "ns_exponent", "sample", "min_count", "max_vocab",
                    "epochs", "lr", "min_lr", "seed", "negatives"):
            if saved.get(key, "skipgram" if key == "arch" else None) != getattr(self.config, key):
                raise NegsampleError(f"checkpoint {path} was made with {key}={saved.get(key)!r}, "
                                     f"not {getattr(self.config, key)!r}; use the same settings to resume")
        self.vocab = Vocabulary(words, counts.astype(np.int64), raw_words=meta["raw_words"], lines=meta["lines"])
        self.W_in = np.ascontiguousarray(W_in, dtype=np.float32)
        self.W_out = np.ascontiguousarray(W_out, dtype=np.float32)
        return int(meta["epochs_done"])
