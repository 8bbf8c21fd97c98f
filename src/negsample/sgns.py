"""The SGNS engine: integer sequences + a NegativeSampler -> vectors. Used by word2vec and graph
embeddings alike (docs/design.md, "Data flow").

Inputs: ``ids`` (N,) int32 token ids in [0, V) (or the path of an int32 id file, read chunk by
chunk), ``offsets`` (S+1,) int64 sentence boundaries, ``counts`` (V,) for the noise
(q ∝ count^ns_exponent with "frequency" noise) and subsampling. Sentences are split into chunks
of about ``chunk_words`` tokens; Python threads run the native (or JIT) kernels of
``negsample.kernels.sgns`` on disjoint chunks with the GIL released (Hogwild). Chunk c of epoch e
uses RNG stream ``stream_seed(seed, e, c)``, so a run is reproducible for a fixed chunking with
one thread.

Per (centre w, context c) pair: J = ln s(v_c.u_w) + sum_i ln s(-v_c.u_ni) (v = W_in, u = W_out);
subsampling keeps w with p = min(1, sqrt(t/f) + t/f); dynamic window b ~ U{1..window}; the
learning rate decays linearly from ``lr`` to ``min_lr`` over all epochs. Training stops with a
NegsampleError as soon as a kernel sees a non-finite score (the learning rate is too high), and
the weights are checked for finiteness after every epoch, so NaNs are never written.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ._common import NegsampleError, Progress, check_finite_float, check_positive_int
from .distributions import subsample_keep_prob
from .kernels import native
from .kernels.streams import stream_seed
from .samplers import NegativeSampler, as_sampler

__all__ = ["SGNSConfig", "train_sgns", "train_epochs", "init_weights", "chunk_bounds", "ARCHITECTURES",
           "SGNS_MODES", "STATS_SIZE"]

ARCHITECTURES = ("skipgram", "cbow")
SGNS_MODES = ("shared", "per-example")
STATS_SIZE = 11        # kernel stats: pairs, loss, terms, 7 filter counts, diverged logits


@dataclass
class SGNSConfig:
    """Training settings shared by word2vec and graph embeddings."""
    dim: int = 100
    window: int = 5
    sample: float = 1e-4
    epochs: int = 5
    lr: float = 0.025
    min_lr: float = 0.0001
    threads: int = 2
    seed: int = 1
    chunk_words: int = 100_000
    arch: str = "skipgram"

    def validate(self) -> "SGNSConfig":
        self.dim = check_positive_int("dim", self.dim)
        self.window = check_positive_int("window", self.window)
        self.sample = check_finite_float("sample", self.sample, minimum=0.0)
        self.epochs = check_positive_int("epochs", self.epochs)
        if self.arch not in ARCHITECTURES:
            raise NegsampleError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        self.lr = check_finite_float("lr", self.lr, minimum=0.0, strict_min=True)
        self.min_lr = check_finite_float("min_lr", self.min_lr, minimum=0.0)
        if self.min_lr > self.lr:
            raise NegsampleError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        self.threads = check_positive_int("threads", self.threads)
        self.seed = check_positive_int("seed", self.seed, minimum=0)
        self.chunk_words = check_positive_int("chunk_words", self.chunk_words)
        return self


def init_weights(V, dim, seed):
    """word2vec's init: W_in ~ U(-0.5/d, 0.5/d), W_out = 0 (both (V, dim) float32)."""
    rng = np.random.default_rng(seed)
    W_in = ((rng.random((V, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
    W_out = np.zeros((V, dim), dtype=np.float32)
    return W_in, W_out


def chunk_bounds(offsets, chunk_words):
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


class _IdReader:
    """Chunks of an int32 id file read with pread (several threads at once; the file may be an
    unnamed temporary file known only by its descriptor)."""

    def __init__(self, source):
        self.fd = source if isinstance(source, int) else None
        self.path = None if isinstance(source, int) else source

    def read(self, lo, hi):
        n = hi - lo
        if self.fd is not None:
            raw = os.pread(self.fd, 4 * n, 4 * lo)
            if len(raw) != 4 * n:
                raise NegsampleError("the encoded corpus file is shorter than expected")
            return np.frombuffer(raw, dtype=np.int32)
        return np.fromfile(self.path, dtype=np.int32, count=n, offset=4 * lo)


def _diverged(epoch, lr, cfg):
    return NegsampleError(
        f"training diverged at epoch {epoch + 1} (non-finite scores at learning rate {lr:.4g}): "
        f"the learning rate is too high for this data; lower --lr (e.g. {cfg.lr / 4:.3g})")


def train_epochs(W_in, W_out, ids, offsets, counts, sampler: NegativeSampler, cfg: SGNSConfig,
                 raw_words_per_epoch, first_epoch=0, on_epoch_end=None, progress=True, desc="train"):
    """Run epochs first_epoch..cfg.epochs-1 in place on W_in / W_out with a fitted sampler.
    ``ids``: an int32 array, an id-file path or an open descriptor of one. Returns run stats."""
    V = W_in.shape[0]
    prob, alias, filt = sampler.kernel_noise()
    if prob.shape[0] != V:
        raise NegsampleError(f"the sampler was fitted on {prob.shape[0]} ids, the vocabulary has {V}")
    mode = sampler.mode if cfg.arch == "skipgram" else "per-example"
    if mode not in SGNS_MODES:
        raise NegsampleError(f"SGNS supports negatives {', '.join(SGNS_MODES)}, not {sampler.mode!r}")
    adaptive = getattr(sampler, "adaptive", None)
    if adaptive is not None:
        if cfg.arch != "skipgram" or mode != "per-example":
            raise NegsampleError("adaptive negatives (candidates, adversarial_temperature) need skip-gram with "
                                 "per-example negatives")
        if sampler.generator is not None:
            raise NegsampleError("generator negatives are available for recsys, not SGNS; use candidates= "
                                 "(dynamic) or adversarial_temperature= (self-adversarial)")
    keep = subsample_keep_prob(counts, cfg.sample).astype(np.float32) if cfg.sample > 0 \
        else np.ones(V, dtype=np.float32)
    kernel = native.sgns_kernel(mode, cfg.arch)
    adaptive_stats = np.zeros(6)
    if adaptive is not None:
        from .kernels.sgns_adaptive import sgns_adaptive

        params = sampler.kernel_adaptive()

        def kernel(W_in, W_out, ids_, offs, b, e, keep_, prob_, alias_, filt_, window, negative, lr, seed, st):
            a = np.zeros(6)
            state = sgns_adaptive(W_in, W_out, ids_, offs, b, e, keep_, prob_, alias_, filt_, window, negative, lr,
                                  seed, st, params, a)
            with lock:
                adaptive_stats[:] += a
            return state
    chunks = chunk_bounds(offsets, cfg.chunk_words)
    chunk_tokens = np.array([offsets[e] - offsets[b] for b, e in chunks], dtype=np.float64)
    tokens_per_epoch = float(offsets[-1])
    scale_raw = raw_words_per_epoch / tokens_per_epoch  # raw words per in-vocab token
    total_tokens = tokens_per_epoch * cfg.epochs
    reader = None if isinstance(ids, np.ndarray) else _IdReader(ids)
    lock = threading.Lock()
    state = {"done": tokens_per_epoch * first_epoch, "loss": 0.0, "terms": 0.0, "pairs": 0.0,
             "filter": np.zeros(7), "diverged": None}
    bar = Progress(total=raw_words_per_epoch * cfg.epochs, unit="words", desc=desc, enabled=progress)
    bar.update(state["done"] * scale_raw)
    train_seconds = 0.0
    epochs_run = 0

    def run_chunk(epoch, ci):
        if state["diverged"] is not None or state.get("abort"):
            return
        b, e = chunks[ci]
        with lock:
            frac = state["done"] / total_tokens
        lr = max(cfg.lr - (cfg.lr - cfg.min_lr) * frac, cfg.min_lr)
        st = np.zeros(STATS_SIZE, dtype=np.float64)
        lo, hi = int(offsets[b]), int(offsets[e])
        chunk_ids = reader.read(lo, hi) if reader is not None else ids[lo:hi]
        local_offsets = offsets[b:e + 1] - lo
        kernel(W_in, W_out, chunk_ids, local_offsets, 0, e - b, keep, prob, alias, filt,
               cfg.window, sampler.negative, float(lr), stream_seed(cfg.seed, epoch, ci), st)
        with lock:
            if st[10] > 0 and state["diverged"] is None:
                state["diverged"] = (epoch, lr)
            state["done"] += chunk_tokens[ci]
            state["pairs"] += st[0]
            state["loss"] += st[1]
            state["terms"] += st[2]
            state["filter"] += st[3:10]
            recent = st[1] / st[2] if st[2] else float("nan")
            bar.update(state["done"] * scale_raw, lr=lr, loss=recent)

    losses = []
    try:
        for epoch in range(first_epoch, cfg.epochs):
            t0 = time.perf_counter()
            loss0, terms0 = state["loss"], state["terms"]
            if cfg.threads == 1:
                for ci in range(len(chunks)):
                    run_chunk(epoch, ci)
            else:
                with ThreadPoolExecutor(max_workers=cfg.threads) as pool:
                    try:
                        list(pool.map(lambda ci: run_chunk(epoch, ci), range(len(chunks))))
                    except BaseException:
                        state["abort"] = True      # interrupted: queued chunks return at once
                        raise
            train_seconds += time.perf_counter() - t0
            if state["diverged"] is not None:
                raise _diverged(*state["diverged"], cfg)
            if not (np.isfinite(W_in).all() and np.isfinite(W_out).all()):
                raise _diverged(epoch, cfg.lr, cfg)
            epochs_run += 1
            dl, dt = state["loss"] - loss0, state["terms"] - terms0
            losses.append(dl / dt if dt else float("nan"))
            if on_epoch_end is not None:
                on_epoch_end(epoch, losses[-1])
    finally:
        bar.close()
    negatives_drawn = state["pairs"] * sampler.negative if mode == "per-example" else float("nan")
    sampler.record(state["filter"], 0 if np.isnan(negatives_drawn) else negatives_drawn)
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
        "negatives": mode,
        "filter": dict(zip(("rejected", "redrawn", "dropped", "self", "known", "time", "label"),
                           [int(x) for x in state["filter"]])),
        "adaptive": None if adaptive is None else {
            "kind": adaptive, "extra_scores_per_positive": adaptive_stats[0] / max(state["pairs"], 1),
            "mean_negative_score": adaptive_stats[1] / max(adaptive_stats[2], 1),
            "mean_candidate_score": adaptive_stats[5] / adaptive_stats[0] if adaptive_stats[0] else None,
            "mean_weight_entropy": adaptive_stats[3] / adaptive_stats[4] if adaptive_stats[4] else None},
    }


def train_sgns(ids, offsets, counts, *, dim=128, window=10, negative=5, ns_exponent=0.75, negatives="shared",
               sample=0.0, epochs=1, lr=0.025, min_lr=None, threads=2, seed=1, progress=False,
               chunk_words=100_000, keys=None, arch="skipgram"):
    """SGNS on integer sequences (e.g. graph walks). ids: (N,) int in [0, V); offsets: (S+1,)
    sentence boundaries; counts: (V,) for the noise and subsampling; ``negatives``: a
    NegativeSampler or a mode ("shared" | "per-example"); ``keys``: names of the ids (for noise,
    times or labels given as mappings). Returns (W_in (V, dim) float32, W_out (V, dim) float32,
    stats dict)."""
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
    cfg = SGNSConfig(dim=dim, window=window, sample=sample, epochs=epochs, lr=lr,
                     min_lr=lr * 1e-4 if min_lr is None else min_lr, threads=threads, seed=seed,
                     chunk_words=chunk_words, arch=arch).validate()
    sampler = as_sampler(negatives, negative, ns_exponent, default_mode="shared", modes=SGNS_MODES)
    sampler.fit(counts, keys=keys, n_rows=V)
    W_in, W_out = init_weights(V, cfg.dim, cfg.seed)
    stats = train_epochs(W_in, W_out, ids, offsets, counts, sampler, cfg, float(ids.size), progress=progress)
    return W_in, W_out, stats
