"""word2vec across processes and machines (torch.distributed, gloo): data parallelism with
periodic model synchronisation, after pWord2Vec's MPI trainer (Ji et al., TPDS 2019).

    torchrun --nproc-per-node 2 -m negsample word2vec train corpus.txt -o vec.bin --distributed

W processes (ranks), each with its own threads (the ordinary SGNS engine, ``negsample.sgns``):

1. **Shards.** A plain-text corpus is split by byte ranges: rank r owns the lines whose first
   byte lies in [r T / W, (r + 1) T / W) of the T bytes of the corpus (a directory or a list of
   files counts as their concatenation). Compressed files (gz / bz2 / xz) cannot be split by
   bytes: every rank decompresses the whole corpus and keeps the lines i with i % W == r.
2. **Vocabulary.** Each rank counts its shard; the counts are gathered on rank 0, merged, sorted
   (decreasing count, ties in code point order, like ``word2vec.build_vocab``), cut by
   ``min_count`` / ``max_vocab`` on the global counts and broadcast, so every rank has the same
   vocabulary, noise table and subsampling probabilities (raw_words, lines: global sums).
3. **Training.** Same initial weights everywhere (same seed); each rank trains on its shard with
   its own RNG streams. Every ``sync_words`` in-vocabulary tokens of a rank (the number of sync
   points per epoch comes from the largest shard, so every rank calls the same collectives) the
   threads pause and the models are merged over the first R rows, the most frequent words:
   R = hot_words * 2^z at the n-th sync point of an epoch, z = the number of trailing zero bits
   of n (pWord2Vec's schedule: the top ``hot_words`` rows at every point, twice as many every
   second point, ...), and all V rows at the last point of each epoch.
4. **Merge.** ``merge="sum"`` (default): W <- B + sum_r (W_r - B), B = the rows as last merged,
   so every rank's updates are applied once (Hogwild across processes, stale by at most one sync
   period); ``merge="average"``: W <- mean_r W_r (pWord2Vec), which divides the update of a word
   seen on one rank by W. One all_reduce(SUM) per matrix on the numpy rows themselves
   (``torch.from_numpy``, no copies). The learning rate decays with each rank's own progress
   (the shards are balanced to a line).
5. **Outputs.** After the full merge at the end of an epoch every rank holds the same weights;
   rank 0 writes the checkpoint (shared file system) and, at the end, the vectors. Resume: every
   rank loads the checkpoint and skips the epochs done (the ranks check they agree).

A non-finite score on any rank stops all of them at the next sync point (a flag all-reduced with
the merge); a peer that dies or stops answering makes the collectives fail (gloo notices a closed
connection at once, a silent peer after ``timeout`` seconds) with a NegsampleError, never a hang.
Reported: bytes merged per epoch, seconds synchronising (packing the rows and the all-reduce,
which includes waiting for the slowest rank), their share of the training time, global words/s.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import re
import tempfile
import time
import warnings
from collections import Counter

import numpy as np
import torch
import torch.distributed as dist

from ._common import NegsampleError, check_positive_int
from .io import open_input
from .kernels.streams import stream_seed

__all__ = ["fit_distributed", "init_from_env", "corpus_files", "shard_plan", "ShardReader", "ModelSync",
           "DEFAULT_SYNC_WORDS", "DEFAULT_HOT_WORDS", "DEFAULT_TIMEOUT", "MERGES", "is_writer", "shutdown"]

DEFAULT_SYNC_WORDS = 12_500
DEFAULT_HOT_WORDS = 128
DEFAULT_TIMEOUT = 1800.0
MERGES = ("sum", "average")
_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_log = logging.getLogger("negsample")


# --------------------------------------------------------------------------- process group

def init_from_env(timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Join the process group torchrun describes (env://: RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT), backend gloo. Returns False when a group is already initialised."""
    if dist.is_initialized():
        return False
    missing = [k for k in _ENV if k not in os.environ]
    if missing:
        raise NegsampleError(f"distributed training runs under torchrun ({', '.join(missing)} not set): "
                             "torchrun --nproc-per-node N -m negsample word2vec train ... --distributed")
    try:
        dist.init_process_group("gloo", init_method="env://", timeout=datetime.timedelta(seconds=timeout))
    except (RuntimeError, ValueError) as exc:
        raise NegsampleError(f"cannot join the process group at {os.environ['MASTER_ADDR']}:"
                             f"{os.environ['MASTER_PORT']} as rank {os.environ['RANK']} of "
                             f"{os.environ['WORLD_SIZE']}: {_first_line(exc)}") from None
    return True


def shutdown() -> None:
    """Leave the process group (if one is initialised)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def is_writer() -> bool:
    """True on the process that writes outputs (rank 0, or without a process group)."""
    return not dist.is_initialized() or dist.get_rank() == 0


def _first_line(exc) -> str:
    """The gist of a (gloo / store) error: first line, without the source location and advice."""
    text = str(exc).strip().splitlines()
    if not text:
        return type(exc).__name__
    line = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", text[0])
    return line.split(" This is typically")[0][:300]


class _Group:
    """Collectives with failures turned into one-line NegsampleErrors."""

    def __init__(self, timeout):
        self.rank = dist.get_rank()
        self.world = dist.get_world_size()
        self.timeout = timeout

    def _fail(self, what, exc):
        return NegsampleError(f"distributed training stopped during {what} on rank {self.rank}: a peer process "
                              f"failed, exited or did not answer within {self.timeout:g} s ({_first_line(exc)})")

    def call(self, what, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RuntimeError as exc:
            raise self._fail(what, exc) from None

    def all_reduce(self, tensor, op="sum", what="a collective"):
        ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        self.call(what, dist.all_reduce, tensor, op=ops[op])
        return tensor

    def all_gather_object(self, obj, what="a collective"):
        out = [None] * self.world
        self.call(what, dist.all_gather_object, out, obj)
        return out

    def gather_object(self, obj, what="a collective"):
        out = [None] * self.world if self.rank == 0 else None
        self.call(what, dist.gather_object, obj, out, dst=0)
        return out

    def broadcast_object(self, obj, what="a collective"):
        box = [obj]
        self.call(what, dist.broadcast_object_list, box, src=0)
        return box[0]


# --------------------------------------------------------------------------- shards

def corpus_files(corpus) -> list:
    """The files of a corpus: a file, a directory (its regular, non-hidden files in name order,
    not recursive) or a list of file paths, read as one corpus."""
    if isinstance(corpus, (str, os.PathLike)):
        path = os.fspath(corpus)
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if not n.startswith("."))
            files = [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
            if not files:
                raise NegsampleError(f"corpus directory {path} has no files")
        else:
            files = [path]
    elif isinstance(corpus, (list, tuple)) and corpus and all(isinstance(p, (str, os.PathLike)) for p in corpus):
        files = [os.fspath(p) for p in corpus]
    else:
        raise NegsampleError("distributed training reads files: give a corpus file, a directory or a list of paths")
    for f in files:
        open_input(f, "corpus").close()          # missing, unreadable, not a regular file, corrupt
    return files


def _compressed(path) -> bool:
    from .io import _MAGIC

    with open(path, "rb") as fh:
        head = fh.read(6)
    return any(head.startswith(m) for m, _ in _MAGIC)


def shard_plan(files, world, rank) -> dict:
    """How rank ``rank`` of ``world`` reads its shard: {"mode": "bytes", "start", "end", "total"}
    (global byte range of the concatenated files; a line belongs to the rank whose range holds its
    first byte) or {"mode": "lines"} (compressed input: lines i with i % world == rank)."""
    if any(_compressed(f) for f in files):
        return {"mode": "lines", "world": world, "rank": rank}
    total = sum(os.stat(f).st_size for f in files)
    return {"mode": "bytes", "start": total * rank // world, "end": total * (rank + 1) // world, "total": total,
            "world": world, "rank": rank}


class ShardReader:
    """The lines of one rank's shard, decoded (UTF-8, invalid bytes replaced and the line counted
    in ``bad_lines``); iterable any number of times. ``lines`` / ``bad_lines`` count the last
    full pass."""

    def __init__(self, files, plan):
        self.files = list(files)
        self.plan = plan
        self.lines = self.bad_lines = 0

    def _raw(self):
        p = self.plan
        if p["mode"] == "lines":
            i = 0
            for f in self.files:
                fh = open_input(f, "corpus")
                try:
                    for raw in fh:
                        if i % p["world"] == p["rank"]:
                            yield raw
                        i += 1
                except (OSError, EOFError, ValueError) as exc:
                    raise NegsampleError(f"corpus {f} is corrupt or truncated: {_first_line(exc)}") from None
                finally:
                    fh.close()
            return
        base = 0
        for f in self.files:
            size = os.stat(f).st_size
            lo, hi = max(p["start"] - base, 0), min(p["end"] - base, size)
            base += size
            if lo >= hi:
                continue
            with open(f, "rb", buffering=1 << 20) as fh:
                if lo > 0:
                    fh.seek(lo - 1)
                    fh.readline()             # the line holding byte lo - 1 belongs to the previous rank
                pos = fh.tell()
                while pos < hi:
                    raw = fh.readline()
                    if not raw:
                        break
                    pos += len(raw)
                    yield raw

    def __iter__(self):
        lines = bad = 0
        for raw in self._raw():
            lines += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
                line = raw.decode("utf-8", errors="replace")
            yield line
        self.lines, self.bad_lines = lines, bad


def _count_shard(reader):
    counter: Counter = Counter()
    batch = []
    raw = 0
    for line in reader:
        toks = line.split()
        raw += len(toks)
        batch.extend(toks)
        if len(batch) >= 1 << 16:
            counter.update(batch)
            batch = []
    counter.update(batch)
    return counter, raw


def merged_vocabulary(group, reader, min_count, max_vocab):
    """The global vocabulary: shard counts gathered on rank 0, merged, sorted like build_vocab,
    cut by min_count / max_vocab, broadcast. Returns a word2vec.Vocabulary (same on every rank)."""
    from .word2vec import Vocabulary

    counter, raw = _count_shard(reader)
    words = "\n".join(counter)                   # tokens never contain whitespace
    payload = (words, np.fromiter(counter.values(), dtype=np.int64, count=len(counter)), raw, reader.lines,
               reader.bad_lines)
    del counter
    parts = group.gather_object(payload, what="the vocabulary merge")
    del payload, words
    result = None
    if group.rank == 0:
        total: dict = {}
        raw_words = lines = bad = 0
        for w, c, r, n, b in parts:
            get = total.get
            for word, count in zip(w.split("\n") if w else (), c.tolist()):
                total[word] = get(word, 0) + count
            raw_words, lines, bad = raw_words + r, lines + n, bad + b
        del parts
        items = [(w, c) for w, c in total.items() if c >= min_count]
        n_types = len(total)
        del total
        if raw_words == 0:
            result = "corpus is empty: no tokens in any shard"
        elif not items:
            result = (f"no word reaches min_count={min_count} ({n_types} distinct words in {raw_words} tokens); "
                      "lower --min-count")
        else:
            items.sort(key=lambda wc: (-wc[1], wc[0]))
            if max_vocab is not None:
                items = items[:max_vocab]
            result = ("\n".join(w for w, _ in items), np.array([c for _, c in items], dtype=np.int64),
                      raw_words, lines, bad)
    result = group.broadcast_object(result, what="the vocabulary broadcast")
    if isinstance(result, str):
        raise NegsampleError(result)
    w, c, raw_words, lines, bad = result
    vocab = Vocabulary(w.split("\n"), c, raw_words=int(raw_words), lines=int(lines))
    vocab.bad_lines = int(bad)
    return vocab


def encode_shard(reader, vocab, out):
    """Encode a shard to int32 ids in the binary file ``out`` (OOV dropped, empty sentences
    dropped, like word2vec.encode_corpus; an empty shard is allowed here). Returns (offsets
    (S+1,) int64, raw tokens of the shard)."""
    from .word2vec import encode_sentences

    return encode_sentences((line.split() for line in reader), vocab.index, out)


# --------------------------------------------------------------------------- model synchronisation

def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


class ModelSync:
    """The ``sync`` hook of ``sgns.train_epochs``: merges the first R rows of W_in and W_out over
    the process group at each sync point (module docstring: schedule and merge rules) and
    accounts for the bytes and seconds spent.

    One all_reduce per sync point: the rows of both matrices (their deltas for ``merge="sum"``)
    and the divergence flag packed in one float32 buffer; a merge larger than ``piece_bytes`` (the
    full one at the end of an epoch) goes in pieces, so the buffer stays small."""

    def __init__(self, group, W_in, W_out, sync_words, hot_words, merge="sum", piece_bytes=32 << 20):
        if merge not in MERGES:
            raise NegsampleError(f"merge must be one of {MERGES}, got {merge!r}")
        self.group = group
        self.W = (W_in, W_out)
        self.sync_words = check_positive_int("sync_words", sync_words)
        self.hot_words = check_positive_int("hot_words", hot_words)
        self.merge = merge
        self.base = tuple(W.copy() for W in self.W) if merge == "sum" else None
        self.V, self.dim = W_in.shape
        self.piece_rows = max(1, piece_bytes // (2 * self.dim * 4))
        self.buffer = np.empty(2 * min(self.V, self.piece_rows) * self.dim + 1, dtype=np.float32)
        self.n_sync = 1
        self.syncs = 0
        self.rows = 0
        self.pack_seconds = 0.0
        self.collective_seconds = 0.0
        self.rows_per_epoch = None

    def rows_at(self, g: int) -> int:
        """Rows merged at sync point g (0-based) of an epoch."""
        if g >= self.n_sync - 1:
            return self.V
        return min(self.V, self.hot_words << _trailing_zeros(g + 1))

    def groups(self, chunks, offsets):
        tokens = np.array([offsets[e] - offsets[b] for b, e in chunks], dtype=np.float64)
        local = float(tokens.sum())
        need = torch.tensor([max(1, int(np.ceil(local / self.sync_words)))], dtype=torch.int64)
        self.n_sync = int(self.group.all_reduce(need, "max", what="planning the sync points").item())
        self.rows_per_epoch = sum(self.rows_at(g) for g in range(self.n_sync))
        cum = np.cumsum(tokens)
        out, prev = [], 0
        for g in range(self.n_sync):
            if g == self.n_sync - 1:
                end = len(chunks)
            else:
                end = int(np.searchsorted(cum, (g + 1) * local / self.n_sync, side="left")) + 1
                end = min(max(end, prev), len(chunks))
            out.append((prev, end))
            prev = end
        return out

    def __call__(self, epoch, g, diverged) -> bool:
        t0 = time.perf_counter()
        rows = self.rows_at(g)
        what = f"the model merge at sync point {g + 1} of epoch {epoch + 1}"
        for lo in range(0, rows, self.piece_rows):
            hi = min(rows, lo + self.piece_rows)
            first = lo == 0
            n = (hi - lo) * self.dim
            buf = self.buffer[:2 * n + 1]
            for k, W in enumerate(self.W):
                part = buf[k * n:(k + 1) * n].reshape(hi - lo, self.dim)
                if self.merge == "sum":
                    np.subtract(W[lo:hi], self.base[k][lo:hi], out=part)   # this rank's updates since the last merge
                else:
                    part[...] = W[lo:hi]
            buf[-1] = 1.0 if (first and diverged) else 0.0
            t1 = time.perf_counter()
            self.group.all_reduce(torch.from_numpy(buf), "sum", what=what)
            t2 = time.perf_counter()
            self.pack_seconds += t1 - t0
            self.collective_seconds += t2 - t1
            if first and buf[-1] > 0:            # some process diverged: every process stops here
                return True
            for k, W in enumerate(self.W):
                part = buf[k * n:(k + 1) * n].reshape(hi - lo, self.dim)
                if self.merge == "sum":
                    np.add(self.base[k][lo:hi], part, out=W[lo:hi])
                    self.base[k][lo:hi] = W[lo:hi]
                else:
                    np.multiply(part, np.float32(1.0 / self.group.world), out=W[lo:hi])
            t0 = time.perf_counter()
            self.pack_seconds += t0 - t2
        self.syncs += 1
        self.rows += rows
        return False

    def stats(self, train_seconds, epochs_run) -> dict:
        """Bytes merged (model rows of both matrices, float32; a ring all-reduce sends about
        2 (W - 1) / W times that per process) and seconds: packing / unpacking the rows, and in
        the all-reduce (which includes waiting for the slowest process)."""
        row_bytes = 2 * self.dim * 4
        world = self.group.world
        per_epoch = (self.rows_per_epoch or 0) * row_bytes
        seconds = self.pack_seconds + self.collective_seconds
        return {"merge": self.merge, "sync_words": self.sync_words, "hot_words": self.hot_words,
                "points_per_epoch": self.n_sync, "syncs": self.syncs,
                "bytes_merged_per_epoch": per_epoch, "bytes_merged": self.rows * row_bytes,
                "ring_bytes_sent_per_epoch": per_epoch * 2 * (world - 1) / world,
                "pack_seconds": self.pack_seconds, "collective_seconds": self.collective_seconds,
                "sync_seconds": seconds, "sync_share": seconds / train_seconds if train_seconds > 0 else float("nan"),
                "epochs": epochs_run}


# --------------------------------------------------------------------------- the trainer

def _fingerprint(files):
    from .word2vec import corpus_fingerprint

    if len(files) == 1:
        return corpus_fingerprint(files[0])
    return {"files": [corpus_fingerprint(f) for f in files]}


def fit_distributed(model, corpus, checkpoint_dir=None, resume=False, progress=True,
                    sync_words=DEFAULT_SYNC_WORDS, hot_words=DEFAULT_HOT_WORDS, merge="sum",
                    timeout=DEFAULT_TIMEOUT):
    """Train ``model`` (a ``word2vec.Word2Vec``) on ``corpus`` (a file, a directory or a list of
    files) with every process of the torch.distributed group (joined from torchrun's environment
    if none is initialised; backend gloo). Every process returns the same model; only rank 0
    writes the checkpoints (``checkpoint_dir`` must be on a file system all ranks share) and
    should write the outputs (``is_writer()``). ``model.stats`` gains ``world_size``, global
    ``words_per_sec`` and ``sync`` (bytes merged per epoch, seconds in collectives, share)."""
    from .sgns import init_weights, train_epochs
    from .word2vec import CHECKPOINT_NAME, _release_memory, _remove_stale_temporaries

    sync_words = check_positive_int("sync_words", sync_words)
    hot_words = check_positive_int("hot_words", hot_words)
    if merge not in MERGES:
        raise NegsampleError(f"merge must be one of {MERGES}, got {merge!r}")
    init_from_env(timeout)
    group = _Group(timeout)
    rank, world = group.rank, group.world
    cfg = model.config
    t_start = time.perf_counter()
    files = corpus_files(corpus)
    fingerprint = _fingerprint(files)
    seen = group.all_gather_object(fingerprint, what="the corpus check")
    if any(f != seen[0] for f in seen):
        raise NegsampleError("the processes see different corpora (sizes or contents differ): every rank must "
                             "read the same files (a shared file system or identical copies)")
    ckpt = os.path.join(checkpoint_dir, CHECKPOINT_NAME) if checkpoint_dir else None
    if ckpt:
        from .io import check_output_path

        check_output_path(ckpt, inputs=files, what="checkpoint")
        try:
            os.makedirs(checkpoint_dir, exist_ok=True)
        except OSError as exc:
            raise NegsampleError(f"cannot create checkpoint directory {checkpoint_dir}: {exc.strerror}") from None
        if rank == 0:
            _remove_stale_temporaries(ckpt)
    first_epoch = 0
    if resume:
        if not ckpt:
            raise NegsampleError("resume needs a checkpoint directory")
        if os.path.exists(ckpt):
            first_epoch = model._load_checkpoint(ckpt, fingerprint)
        elif progress and rank == 0:
            _log.info("no checkpoint in %s; starting from scratch", checkpoint_dir)
    views = group.all_gather_object(first_epoch, what="the checkpoint check")
    if len(set(views)) != 1:
        raise NegsampleError(f"the processes disagree on the checkpoint in {checkpoint_dir} (epochs done per "
                             f"rank: {views}); it must be on a file system every rank shares")
    plan = shard_plan(files, world, rank)
    reader = ShardReader(files, plan)
    if model.vocab is None or first_epoch == 0:
        model.vocab = merged_vocabulary(group, reader, model.min_count, model.max_vocab)
        _release_memory()
        if rank == 0 and model.vocab.bad_lines:
            warnings.warn(f"corpus: {model.vocab.bad_lines} of {model.vocab.lines} lines had invalid UTF-8 bytes "
                          "(decoded with replacement characters)", stacklevel=2)
    vocab = model.vocab
    model.sampler.fit(vocab.counts, keys=vocab.words, n_rows=len(vocab))
    if model.W_in is None or first_epoch == 0:
        model.W_in, model.W_out = init_weights(len(vocab), cfg.dim, cfg.seed)
    with tempfile.TemporaryFile(prefix="negsample-shard-") as idfile:
        offsets, shard_raw = encode_shard(reader, vocab, idfile)
        shard_tokens = int(offsets[-1])
        sizes = group.all_gather_object((shard_tokens, shard_raw), what="the shard sizes")
        empty = [r for r, (n, _) in enumerate(sizes) if n == 0]
        if empty:
            raise NegsampleError(f"rank(s) {empty} of {world} got no in-vocabulary words in their shard: use fewer "
                                 "processes or a larger corpus")
        prep_seconds = time.perf_counter() - t_start
        # each rank's own RNG streams (rank 0 keeps the seed: one process = the ordinary trainer);
        # with several threads, chunks small enough that a sync group holds several per thread
        chunk = sync_words if cfg.threads == 1 else sync_words // (4 * cfg.threads)
        run_cfg = dataclasses.replace(
            cfg, seed=cfg.seed if rank == 0 else stream_seed(cfg.seed, 0x5D15, rank) % (1 << 62),
            chunk_words=cfg.chunk_words if world == 1 else max(1000, min(cfg.chunk_words, chunk)))
        sync = ModelSync(group, model.W_in, model.W_out, sync_words, hot_words, merge) if world > 1 else None

        def on_epoch_end(epoch, loss):
            model.epochs_trained = epoch + 1
            if ckpt and rank == 0:
                model._archive(ckpt, "word2vec-checkpoint", {"epochs_done": epoch + 1, "corpus": fingerprint,
                                                             "world_size": world})
            run_callbacks = getattr(model, "_run_callbacks", None)
            if run_callbacks is not None:
                run_callbacks(epoch, loss)

        if first_epoch >= cfg.epochs:
            st = {"train_seconds": 0.0, "words_per_sec": float("nan"), "loss": float("nan"), "epochs_run": 0,
                  "raw_words_trained": 0, "pairs": 0, "epoch_losses": [], "kernel_backend": "none", "filter": {}}
        else:
            # raw words = the shard's tokens (the progress bar and this rank's words/s)
            st = train_epochs(model.W_in, model.W_out, idfile.fileno(), offsets, vocab.counts, model.sampler,
                              run_cfg, float(shard_raw), first_epoch=first_epoch, on_epoch_end=on_epoch_end,
                              progress=progress and rank == 0, desc=f"train (rank 0 of {world})", sync=sync)
    sync_stats = sync.stats(st["train_seconds"], st["epochs_run"]) if sync is not None else None
    every = group.all_gather_object({"train_seconds": st["train_seconds"], "raw": st["raw_words_trained"],
                                     "loss": st["loss"], "epoch_losses": st["epoch_losses"], "sync": sync_stats,
                                     "tokens": shard_tokens, "shard_raw": shard_raw}, what="the final statistics")
    wall = max(e["train_seconds"] for e in every)
    raw_total = sum(e["raw"] for e in every)
    losses = [e["epoch_losses"] for e in every]
    epoch_losses = [float(np.mean(x)) for x in zip(*losses)] if losses and losses[0] else []
    dist_stats = {"world_size": world, "rank": rank, "shard_mode": plan["mode"],
                  "shard_tokens": [e["tokens"] for e in every], "shard_raw_words": [e["shard_raw"] for e in every],
                  "rank_train_seconds": [e["train_seconds"] for e in every]}
    if sync_stats is not None:
        syncs = [e["sync"]["sync_seconds"] for e in every]
        sync_stats = dict(sync_stats, sync_seconds_per_rank=syncs,
                          collective_seconds_per_rank=[e["sync"]["collective_seconds"] for e in every],
                          sync_share=float(np.mean([x / e["train_seconds"] if e["train_seconds"] else 0.0
                                                    for x, e in zip(syncs, every)])))
    model.stats = dict(st, words_per_sec=raw_total / wall if wall > 0 else float("nan"), train_seconds=wall,
                       raw_words_trained=raw_total, rank_words_per_sec=st["words_per_sec"],
                       epoch_losses=epoch_losses, loss=epoch_losses[-1] if epoch_losses else float("nan"),
                       vocab_size=len(vocab), raw_words=vocab.raw_words, corpus_lines=vocab.lines,
                       bad_utf8_lines=getattr(vocab, "bad_lines", 0), prep_seconds=prep_seconds,
                       start_epoch=first_epoch, negatives=model.sampler.mode, arch=cfg.arch, threads=cfg.threads,
                       distributed=dist_stats, sync=sync_stats)
    return model
