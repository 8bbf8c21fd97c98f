"""word2vec: skip-gram (or CBOW) with negative sampling on a streamed corpus.

Pipeline (docs/design.md): corpus file -> vocabulary (min_count, max_vocab, ordered by frequency)
-> the corpus encoded once to an int32 id file (an unnamed temporary file: nothing is left behind
even after kill -9; out-of-vocabulary tokens dropped, sentence boundaries kept) -> the SGNS engine
(``negsample.sgns``: native kernels, Hogwild threads) with a ``NegativeSampler`` (noise
q ∝ count^ns_exponent by default; any noise and the false-negative filters of the core) ->
``negsample.vectors.KeyedVectors``. Words/s counts raw corpus words (every token of the input, in
vocabulary or not) per second of training.
"""
from __future__ import annotations

import ctypes
import gc
import hashlib
import logging
import lzma
import os
import tempfile
import time
import warnings
from array import array
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ._common import NegsampleError, check_positive_int
from .io import check_array, load_arrays, save_arrays
from .corpus import DEFAULT_MAX_TYPES
from .samplers import NegativeSampler, as_sampler
from .sgns import ARCHITECTURES, SGNS_MODES, SGNSConfig, init_weights, train_epochs

__all__ = ["Word2Vec", "Vocabulary", "open_corpus", "iter_sentences", "build_vocab", "encode_corpus",
           "DEFAULT_LR", "NEGATIVE_MODES"]

NEGATIVE_MODES = SGNS_MODES
# CBOW averages the context vectors, so each input row gets a smaller share of the signal: the
# C tool starts it at 0.05. Measured on 7M words of corpus-en (3 epochs): CBOW at 0.05 scores 11.1%
# on the Google analogies, at 0.025 3.7% (gensim's CBOW at its default 0.025: 5.7%).
DEFAULT_LR = {"skipgram": 0.025, "cbow": 0.05}
# skip-gram with shared negatives: consecutive centre words whose windows share one negative set
# (context combining, negsample.kernels.sgns.sgns_block); 1 is pWord2Vec's one set per window
DEFAULT_BLOCK = 1
CHECKPOINT_NAME = "word2vec-checkpoint.npz"


# --------------------------------------------------------------------------- corpus reading

def open_corpus(path):
    """Open a text corpus (plain, gzip, bz2 or xz, detected from its first bytes) for binary
    reading, with clear errors (missing, a directory, not a regular file, unreadable, corrupt)."""
    from .io import open_input

    return open_input(path, what="corpus")


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


def encode_corpus(source, vocab: Vocabulary, out=None):
    """Encode the corpus to int32 ids (OOV dropped, empty sentences dropped) in a binary file
    object ``out`` (default: an unnamed temporary file); training reads it chunk by chunk, so only
    the offsets (8 bytes per sentence) stay in memory. Returns (file object, offsets (S+1,) int64).
    """
    if out is None:
        out = tempfile.TemporaryFile(prefix="negsample-corpus-")
    offsets, _ = encode_sentences(iter_sentences(source), vocab.index, out)
    if offsets[-1] == 0:
        raise NegsampleError("no in-vocabulary tokens left to train on")
    return out, offsets


def encode_sentences(sentences, index: dict, out):
    """Write the ids (``index[token]``, OOV dropped) of token lists to the binary file object
    ``out`` as int32, sentences left empty dropped. Returns (offsets (S+1,) int64, raw tokens
    seen)."""
    offsets = array("q", [0])  # compact: 8 bytes per sentence, not a Python int object
    total = raw = 0
    pending = array("i")  # int32 ids waiting to be written
    for toks in sentences:
        raw += len(toks)
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
    out.flush()
    return np.frombuffer(offsets, dtype=np.int64).copy(), raw


def _release_memory():
    """Return the vocabulary counter's freed heap to the OS before the big arrays are allocated."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass



def file_corpus(corpus) -> list | None:
    """The files of a corpus given as a path (a file or a directory) or a list of ``os.PathLike``
    paths (``pathlib.Path``; a list of str is a list of sentences), else None (in memory)."""
    from .corpus import corpus_files

    if isinstance(corpus, (str, os.PathLike)):
        return corpus_files(corpus)
    if isinstance(corpus, (list, tuple)) and corpus and all(isinstance(p, os.PathLike) for p in corpus):
        return corpus_files(corpus)
    return None


def corpus_fingerprint(source) -> dict | None:
    """Size and a hash of the first and last MiB of a corpus file (per file for a directory or a
    list of files; None for in-memory corpora): a resumed run must see the same corpus."""
    files = file_corpus(source)
    if files is None:
        return None
    if isinstance(source, (str, os.PathLike)) and not os.path.isdir(source):
        return _file_fingerprint(files[0])
    return {"files": [_file_fingerprint(f) for f in files]}


def _file_fingerprint(path) -> dict:
    path = os.fspath(path)
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
        if st.st_size > 2 << 20:
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read(1 << 20))
    return {"size": int(st.st_size), "sha256_ends": h.hexdigest()}


_GENSIM = {"vector_size": "dim", "alpha": "lr", "min_alpha": "min_lr", "workers": "threads",
           "max_final_vocab": "max_vocab", "sentences": "corpus", "corpus_iterable": "corpus"}
_GENSIM_UNSUPPORTED = {"hs": "hierarchical softmax (negsample trains with negative sampling only; use negative=k)",
                       "cbow_mean": "cbow_mean=0 (negsample's CBOW averages the context, gensim's cbow_mean=1)",
                       "corpus_file": "corpus_file= (pass the path as the corpus: Word2Vec(...).fit(path))"}


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _gensim_aliases(extra, defaults, **ours):
    """Map gensim's parameter names (vector_size, alpha, min_alpha, workers, sg, max_final_vocab,
    sentences / corpus_iterable) onto ours; a name given both ways with different values is an error."""
    out = dict(ours)
    for name, value in extra.items():
        if name == "sg":
            if value not in (0, 1):
                raise NegsampleError(f"sg must be 0 (CBOW) or 1 (skip-gram), got {value!r}")
            target, value = "arch", ("skipgram" if value else "cbow")
        elif name in _GENSIM:
            target = _GENSIM[name]
        elif name in _GENSIM_UNSUPPORTED:
            if name == "hs" and not value or name == "cbow_mean" and value == 1:
                continue
            raise NegsampleError(f"{name}: {_GENSIM_UNSUPPORTED[name]} is not supported")
        elif name in ("compute_loss", "trim_rule", "batch_words", "sorted_vocab", "null_word", "shrink_windows"):
            continue                                   # gensim knobs with no effect here
        else:
            raise NegsampleError(f"Word2Vec got an unexpected argument {name!r}")
        if target != "corpus" and out.get(target, defaults.get(target)) != defaults.get(target) \
                and out[target] != value:
            raise NegsampleError(f"{name}={_short(value)} conflicts with {target}={_short(out[target])}")
        out[target] = value
    return out


def _check_restartable(corpus):
    if isinstance(corpus, (str, os.PathLike)):
        return
    try:
        it = iter(corpus)
    except TypeError:
        raise NegsampleError("corpus must be a file path or an iterable of sentences") from None
    if it is corpus:
        raise NegsampleError("corpus is a one-pass iterator (e.g. a generator): it is read twice (vocabulary, "
                             "then training), so pass a list or an iterable that restarts, as gensim requires")


# --------------------------------------------------------------------------- the estimator

class Word2Vec:
    """Skip-gram (or CBOW) with negative sampling.

    >>> model = Word2Vec(dim=100, window=5, negative=5, epochs=5).fit("corpus.txt.xz")
    >>> model.wv.most_similar("king")

    ``negatives``: the sampling mode, ``"shared"`` (default: each window's k negatives are shared
    by its context words, pWord2Vec) or ``"per-example"`` (k per pair, like word2vec/gensim), or a
    ``NegativeSampler`` for any noise (custom weights per word as a dict, mixtures) and the
    false-negative filters (known positives per word, a time window, labels). ``arch="cbow"``
    trains CBOW instead (the mean of the context vectors predicts the centre word, k negatives per
    centre; gensim's ``sg=0, cbow_mean=1``).
    """

    def __init__(self, dim=100, window=5, negative=5, ns_exponent=0.75, sample=1e-4, min_count=5,
                 max_vocab=None, epochs=5, lr=None, min_lr=0.0001, threads=2, seed=1,
                 negatives="shared", chunk_words=100_000, arch="skipgram", max_types=DEFAULT_MAX_TYPES,
                 block=None, prefetch=True, callbacks=(), **gensim_names):
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            if isinstance(dim, (str, os.PathLike)) or hasattr(dim, "__iter__"):   # gensim: Word2Vec(sentences, ...)
                if "sentences" in gensim_names or "corpus_iterable" in gensim_names:
                    raise NegsampleError("the corpus is given twice (positionally and by name)")
                gensim_names["sentences"], dim = dim, 100
        names = _gensim_aliases(gensim_names, dim=dim, lr=lr, min_lr=min_lr, threads=threads, arch=arch,
                                max_vocab=max_vocab, defaults=dict(dim=100, lr=None, min_lr=0.0001, threads=2,
                                                                   arch="skipgram", max_vocab=None))
        corpus = names.pop("corpus", None)
        dim, lr, min_lr, threads, arch, max_vocab = (names[k] for k in ("dim", "lr", "min_lr", "threads", "arch",
                                                                         "max_vocab"))
        if arch not in ARCHITECTURES:
            raise NegsampleError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")
        self.config = SGNSConfig(dim=dim, window=window, sample=sample, epochs=epochs,
                                 lr=DEFAULT_LR[arch] if lr is None else lr, min_lr=min_lr, threads=threads,
                                 seed=seed, chunk_words=chunk_words, arch=arch,
                                 block=DEFAULT_BLOCK if block is None else block, prefetch=prefetch).validate()
        self.sampler = as_sampler(negatives, negative, ns_exponent, default_mode="shared", modes=SGNS_MODES)
        self.min_count = check_positive_int("min_count", min_count)
        self.max_vocab = None if max_vocab is None else check_positive_int("max_vocab", max_vocab)
        self.callbacks = list(callbacks or ())
        self.max_types = None if max_types is None else check_positive_int("max_types", max_types, minimum=2)
        self.vocab: Vocabulary | None = None
        self.W_in = None
        self.W_out = None
        self.stats: dict = {}
        self.epochs_trained = 0
        if corpus is not None:           # gensim: Word2Vec(sentences) trains at once
            self.fit(corpus, progress=False)

    @property
    def negatives(self) -> str:
        return self.sampler.mode

    # ---------------------------------------------------------------- fit
    def fit(self, corpus, checkpoint_dir=None, resume=False, progress=True):
        """Train on a corpus path (plain/.gz/.bz2/.xz) or a restartable iterable of token lists
        (or strings). With ``checkpoint_dir`` a checkpoint is written after every epoch;
        ``resume=True`` continues from it (same corpus and settings; ``epochs`` may be raised)."""
        cfg = self.config
        files = file_corpus(corpus)             # validates the files (missing, unreadable, ...)
        if files is None:
            _check_restartable(corpus)
        t_start = time.perf_counter()
        ckpt = os.path.join(checkpoint_dir, CHECKPOINT_NAME) if checkpoint_dir else None
        if ckpt:
            from .io import check_output_path

            check_output_path(ckpt, inputs=[corpus] if isinstance(corpus, (str, os.PathLike)) else (),
                              what="checkpoint")
            try:
                os.makedirs(checkpoint_dir, exist_ok=True)
            except OSError as exc:
                raise NegsampleError(f"cannot create checkpoint directory {checkpoint_dir}: {exc.strerror}") from None
            _remove_stale_temporaries(ckpt)
        fingerprint = corpus_fingerprint(corpus)
        first_epoch = 0
        if resume:
            if not ckpt:
                raise NegsampleError("resume needs a checkpoint directory")
            if os.path.exists(ckpt):
                first_epoch = self._load_checkpoint(ckpt, fingerprint)
            elif progress:
                logging.getLogger("negsample").info("no checkpoint in %s; starting from scratch", checkpoint_dir)
        count = self.vocab is None or first_epoch == 0
        prep = {}
        with tempfile.TemporaryFile(prefix="negsample-corpus-", dir=checkpoint_dir or None) as idfile:
            if files is not None:       # compiled one-pass preparation (negsample.corpus)
                from .corpus import prepare_corpus

                pc = prepare_corpus(files, self.min_count, self.max_vocab, out=idfile,
                                    vocab=None if count else self.vocab, max_types=self.max_types)
                self.vocab, offsets, prep = pc.vocab, pc.offsets, pc.stats
                bad = prep["bad_lines"]
                del pc
            else:
                if count:
                    self.vocab = build_vocab(corpus, self.min_count, self.max_vocab)
                    _release_memory()
                bad = getattr(self.vocab, "bad_lines", 0)
                _, offsets = encode_corpus(corpus, self.vocab, idfile)
            _release_memory()
            self.sampler.fit(self.vocab.counts, keys=self.vocab.words, n_rows=len(self.vocab))
            prep_seconds = time.perf_counter() - t_start
            if self.W_in is None or first_epoch == 0:
                self.W_in, self.W_out = init_weights(len(self.vocab), cfg.dim, cfg.seed)

            def on_epoch_end(epoch, loss):
                self.epochs_trained = epoch + 1
                if ckpt:
                    self._save_checkpoint(ckpt, epoch + 1, fingerprint)
                self._run_callbacks(epoch, loss)

            if first_epoch >= cfg.epochs:
                st = {"train_seconds": 0.0, "words_per_sec": float("nan"), "loss": float("nan"),
                      "epochs_run": 0, "raw_words_trained": 0, "pairs": 0, "epoch_losses": [],
                      "kernel_backend": "none", "filter": {}}
            else:
                st = train_epochs(self.W_in, self.W_out, idfile.fileno(), offsets, self.vocab.counts,
                                  self.sampler, cfg, float(self.vocab.raw_words), first_epoch=first_epoch,
                                  on_epoch_end=on_epoch_end, progress=progress)
        self.stats = dict(st, vocab_size=len(self.vocab), raw_words=self.vocab.raw_words,
                          corpus_lines=self.vocab.lines, bad_utf8_lines=bad,
                          prep_seconds=prep_seconds, prep=prep, start_epoch=first_epoch,
                          negatives=self.sampler.mode,
                          arch=cfg.arch, threads=cfg.threads)
        return self

    def _run_callbacks(self, epoch, loss):
        for cb in self.callbacks:
            if hasattr(cb, "on_epoch_end"):          # gensim's CallbackAny2Vec
                cb.on_epoch_end(self)
            else:
                cb(self, epoch, loss)

    def train(self, corpus, epochs=None, lr=None, min_lr=None, progress=True):
        """Continue training a fitted model for ``epochs`` more passes (default: the model's
        ``epochs``) over ``corpus`` with the existing vocabulary (new words are ignored), the
        learning rate decaying again from ``lr`` (default: the model's) to ``min_lr``, like
        gensim's ``train``. Callbacks run after each epoch."""
        import dataclasses

        if self.W_in is None or self.vocab is None:
            raise NegsampleError("train() continues a fitted model: call fit(corpus) first")
        _check_restartable(corpus)
        cfg = dataclasses.replace(self.config, epochs=self.config.epochs if epochs is None else epochs,
                                  lr=self.config.lr if lr is None else lr,
                                  min_lr=self.config.min_lr if min_lr is None else min_lr).validate()
        self.sampler.fit(self.vocab.counts, keys=self.vocab.words, n_rows=len(self.vocab))
        done = self.epochs_trained

        def on_epoch_end(epoch, loss):
            self.epochs_trained = done + epoch + 1
            self._run_callbacks(done + epoch, loss)

        with tempfile.TemporaryFile(prefix="negsample-corpus-") as idfile:
            _, offsets = encode_corpus(corpus, self.vocab, idfile)
            st = train_epochs(self.W_in, self.W_out, idfile.fileno(), offsets, self.vocab.counts, self.sampler, cfg,
                              float(self.vocab.raw_words), on_epoch_end=on_epoch_end, progress=progress)
        self.stats.update(st)
        return self

    # ---------------------------------------------------------------- outputs
    @property
    def wv(self):
        from .vectors import KeyedVectors

        if self.W_in is None:
            raise NegsampleError("model is not trained yet: call fit() first")
        return KeyedVectors(list(self.vocab.words), self.W_in)

    def save_vectors(self, path, binary=True, inputs=()):
        self.wv.save_word2vec_format(path, binary=binary, inputs=inputs)

    # ---------------------------------------------------------------- persistence
    def _settings(self) -> dict:
        cfg = self.config
        s = self.sampler
        return {"arch": cfg.arch, "dim": cfg.dim, "window": cfg.window, "sample": cfg.sample, "lr": cfg.lr,
                "min_lr": cfg.min_lr, "seed": cfg.seed, "min_count": self.min_count, "max_vocab": self.max_vocab,
                "negative": s.negative, "ns_exponent": s.ns_exponent, "negatives": s.mode,
                "max_redraw": s.max_redraw, "noise_sha256": _noise_hash(s)}

    def _archive(self, path, kind, extra_meta, inputs=()):
        meta = {"settings": self._settings(), "epochs": self.config.epochs, "raw_words": int(self.vocab.raw_words),
                "lines": int(self.vocab.lines)}
        meta.update(extra_meta)
        save_arrays(path, kind, {"W_in": self.W_in, "W_out": self.W_out, "counts": self.vocab.counts},
                    meta=meta, strings={"words": self.vocab.words}, inputs=inputs)

    def _restore(self, path, kind):
        arrays, strings, meta, _ = load_arrays(path, kind, required=("W_in", "W_out", "counts"),
                                               required_strings=("words",))
        words = strings["words"]
        V = len(words)
        W_in = check_array(arrays, "W_in", path, dtype=np.float32, ndim=2, finite=True)
        dim = W_in.shape[1]
        W_out = check_array(arrays, "W_out", path, dtype=np.float32, shape=(V, dim), finite=True)
        check_array(arrays, "W_in", path, shape=(V, None))
        counts = check_array(arrays, "counts", path, dtype=np.int64, shape=(V,))
        if V == 0 or np.any(counts < 1):
            raise NegsampleError(f"{path}: the vocabulary is empty or has non-positive counts")
        if len(set(words)) != V:
            raise NegsampleError(f"{path}: duplicate words in the vocabulary")
        try:
            raw_words, lines = int(meta["raw_words"]), int(meta["lines"])
            settings = dict(meta["settings"])
        except (KeyError, TypeError, ValueError):
            raise NegsampleError(f"{path}: incomplete metadata") from None
        return words, counts, W_in, W_out, raw_words, lines, settings, meta

    def save(self, path):
        """Save the whole model (vectors, context vectors, vocabulary with counts, settings)."""
        if self.W_in is None:
            raise NegsampleError("model is not trained yet: call fit() first")
        self._archive(path, "word2vec-model", {})

    @classmethod
    def load(cls, path) -> "Word2Vec":
        """Load a model written by ``save`` (data only: no code runs)."""
        m = cls.__new__(cls)
        words, counts, W_in, W_out, raw_words, lines, st, meta = Word2Vec._restore(m, path, "word2vec-model")
        try:
            m.__init__(dim=W_in.shape[1], window=st["window"], negative=st["negative"],
                       ns_exponent=st["ns_exponent"], sample=st["sample"], min_count=st["min_count"],
                       max_vocab=st["max_vocab"], epochs=meta.get("epochs", 5), lr=st["lr"], min_lr=st["min_lr"],
                       seed=st["seed"], negatives=st["negatives"], arch=st["arch"])
        except (KeyError, TypeError) as exc:
            raise NegsampleError(f"{path}: incomplete settings ({exc})") from None
        m.vocab = Vocabulary(words, counts, raw_words=raw_words, lines=lines)
        m.W_in, m.W_out = np.ascontiguousarray(W_in), np.ascontiguousarray(W_out)
        return m

    def _save_checkpoint(self, path, epochs_done, fingerprint):
        self._archive(path, "word2vec-checkpoint", {"epochs_done": int(epochs_done), "corpus": fingerprint})

    def _load_checkpoint(self, path, fingerprint):
        words, counts, W_in, W_out, raw_words, lines, saved, meta = self._restore(path, "word2vec-checkpoint")
        if W_in.shape[1] != self.config.dim:
            raise NegsampleError(f"checkpoint {path} has dimension {W_in.shape[1]}, not {self.config.dim}")
        if meta.get("corpus") != fingerprint:
            raise NegsampleError(f"checkpoint {path} was made on a different corpus (size or content differs); "
                                 "resume with the same corpus or start a new checkpoint directory")
        vocab = Vocabulary(words, counts, raw_words=raw_words, lines=lines)
        self.sampler.fit(vocab.counts, keys=vocab.words, n_rows=len(vocab))
        mine = self._settings()
        for key, value in mine.items():
            if saved.get(key) != value:
                raise NegsampleError(f"checkpoint {path} was made with {key}={saved.get(key)!r}, not {value!r}; "
                                     "use the same settings to resume")
        epochs_done = meta.get("epochs_done")
        if not isinstance(epochs_done, int) or epochs_done < 0:
            raise NegsampleError(f"checkpoint {path}: bad epochs_done {epochs_done!r}")
        self.vocab = vocab
        self.W_in = np.ascontiguousarray(W_in, dtype=np.float32)
        self.W_out = np.ascontiguousarray(W_out, dtype=np.float32)
        return epochs_done


def _noise_hash(sampler: NegativeSampler) -> str | None:
    if sampler.table_ is None:
        return None
    h = hashlib.sha256(np.ascontiguousarray(sampler.table_.probabilities).tobytes())
    return h.hexdigest()[:16]


def _remove_stale_temporaries(path):
    """Temporary files an interrupted (killed) writer of ``path`` left next to it."""
    directory = os.path.dirname(os.path.abspath(path))
    prefix = "." + os.path.basename(path) + "."
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass
