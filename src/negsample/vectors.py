"""KeyedVectors: a word -> vector table with gensim-like queries and word2vec file formats.

Similarity is cosine: sim(a, b) = a.b / (|a| |b|). Analogy a:b :: c:? (docs/design.md, Levy & Goldberg):
- 3CosAdd: argmax_x cos(x, b - a + c) over unit vectors, the three query words excluded;
- 3CosMul: argmax_x cos'(x,b) cos'(x,c) / (cos'(x,a) + eps), cos' = (1 + cos) / 2.

Formats (the word2vec C tool's): a header line "V d", then per word either
"word v1 ... vd\\n" (text) or "word " + d little-endian float32 + "\\n" (binary).
Files are written atomically (temp file + rename).
"""
from __future__ import annotations

import difflib
import io as io_module
import os

import numpy as np

from ._common import NegsampleError
from .io import atomic_write

__all__ = ["KeyedVectors"]


class KeyedVectors:
    """index_to_key: list of V words (most frequent first); vectors: (V, d) float32."""

    def __init__(self, index_to_key, vectors):
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise NegsampleError(f"vectors must be 2-D (V, d), got shape {vectors.shape}")
        keys = [str(k) for k in index_to_key]
        if len(keys) != vectors.shape[0]:
            raise NegsampleError(f"{len(keys)} keys but {vectors.shape[0]} vectors")
        self.index_to_key = keys
        self.key_to_index = {k: i for i, k in enumerate(keys)}
        if len(self.key_to_index) != len(keys):
            seen, dup = set(), None
            for k in keys:
                if k in seen:
                    dup = k
                    break
                seen.add(k)
            raise NegsampleError(f"duplicate key {dup!r} in vocabulary")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._normed = None

    # ------------------------------------------------------------------ basics
    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, key):
        return key in self.key_to_index

    @property
    def vector_size(self) -> int:
        return int(self.vectors.shape[1])

    def get_index(self, key) -> int:
        try:
            return self.key_to_index[key]
        except KeyError:
            hint = difflib.get_close_matches(str(key), self.index_to_key[:50_000], n=3)
            extra = f"; close matches: {', '.join(hint)}" if hint else ""
            raise NegsampleError(f"word {key!r} is not in the vocabulary{extra}") from None

    def __getitem__(self, key):
        if isinstance(key, (list, tuple)):
            return np.stack([self.vectors[self.get_index(k)] for k in key])
        return self.vectors[self.get_index(key)]

    def get_normed_vectors(self) -> np.ndarray:
        if self._normed is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            self._normed = (self.vectors / norms).astype(np.float32)
        return self._normed

    def similarity(self, a, b) -> float:
        n = self.get_normed_vectors()
        return float(n[self.get_index(a)] @ n[self.get_index(b)])

    # ------------------------------------------------------------------ queries
    def _as_unit(self, item):
        if isinstance(item, str):
            return self.get_normed_vectors()[self.get_index(item)], self.get_index(item)
        vec = np.asarray(item, dtype=np.float32).ravel()
        if vec.size != self.vector_size:
            raise NegsampleError(f"query vector has {vec.size} dimensions, the vectors have {self.vector_size}")
        norm = np.linalg.norm(vec)
        return (vec / norm if norm > 0 else vec), None

    def most_similar(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """Words closest (cosine) to mean(positive units) - mean(negative units), like gensim.

        positive / negative: a word, a vector, or a list of them. Query words are excluded.
        Returns [(word, similarity)].
        """
        positive = _as_list(positive)
        negative = _as_list(negative)
        if not positive and not negative:
            raise NegsampleError("most_similar needs at least one positive or negative word/vector")
        mean = np.zeros(self.vector_size, dtype=np.float32)
        exclude = set()
        for item, weight in [(p, 1.0) for p in positive] + [(q, -1.0) for q in negative]:
            vec, idx = self._as_unit(item)
            mean += weight * vec
            if idx is not None:
                exclude.add(idx)
        norm = np.linalg.norm(mean)
        if norm > 0:
            mean /= norm
        normed = self.get_normed_vectors()
        limit = _limit(restrict_vocab, len(self))
        sims = normed[:limit] @ mean
        return self._top(sims, topn, exclude)

    def most_similar_cosmul(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """3CosMul (Levy & Goldberg 2014): prod cos'(x, p) / (prod cos'(x, n) + 1e-6), cos' = (1+cos)/2."""
        positive = _as_list(positive)
        negative = _as_list(negative)
        if not positive:
            raise NegsampleError("most_similar_cosmul needs at least one positive word/vector")
        normed = self.get_normed_vectors()
        limit = _limit(restrict_vocab, len(self))
        exclude = set()
        num = np.ones(limit, dtype=np.float64)
        den = np.ones(limit, dtype=np.float64)
        for item in positive:
            vec, idx = self._as_unit(item)
            num *= (1.0 + normed[:limit] @ vec) / 2.0
            if idx is not None:
                exclude.add(idx)
        for item in negative:
            vec, idx = self._as_unit(item)
            den *= (1.0 + normed[:limit] @ vec) / 2.0
            if idx is not None:
                exclude.add(idx)
        return self._top(num / (den + 1e-6), topn, exclude)

    def analogy(self, a, b, c, topn=1, method="add", restrict_vocab=None):
        """a : b :: c : ?  ->  [(word, score)] by 3CosAdd (method="add") or 3CosMul ("mul")."""
        if method == "add":
            return self.most_similar(positive=[b, c], negative=[a], topn=topn, restrict_vocab=restrict_vocab)
        if method == "mul":
            return self.most_similar_cosmul(positive=[b, c], negative=[a], topn=topn, restrict_vocab=restrict_vocab)
        raise NegsampleError(f"analogy method must be 'add' or 'mul', got {method!r}")

    def _top(self, sims, topn, exclude):
        topn = int(topn)
        if topn < 1:
            raise NegsampleError(f"topn must be >= 1, got {topn}")
        k = min(topn + len(exclude), sims.size)
        idx = np.argpartition(-sims, k - 1)[:k] if k < sims.size else np.arange(sims.size)
        idx = idx[np.argsort(-sims[idx], kind="stable")]
        out = [(self.index_to_key[i], float(sims[i])) for i in idx if i not in exclude]
        return out[:topn]

    def to_torch(self):
        """The vectors as a torch tensor (sharing memory with ``vectors``)."""
        import torch

        return torch.from_numpy(self.vectors)

    # ------------------------------------------------------------------ gensim's KeyedVectors API
    def get_vector(self, key, norm=False):
        """The vector of ``key`` (unit length with ``norm=True``), like gensim."""
        i = self.get_index(key)
        return (self.get_normed_vectors() if norm else self.vectors)[i]

    def has_index_for(self, key) -> bool:
        return key in self.key_to_index

    def distance(self, w1, w2) -> float:
        """Cosine distance 1 - cos(w1, w2)."""
        return 1.0 - self.similarity(w1, w2)

    def n_similarity(self, ws1, ws2) -> float:
        """Cosine similarity of the means of two word sets (raw vectors), like gensim."""
        if not len(ws1) or not len(ws2):
            raise NegsampleError("n_similarity needs two non-empty word lists")
        a = self.vectors[[self.get_index(w) for w in ws1]].astype(np.float64).mean(axis=0)
        b = self.vectors[[self.get_index(w) for w in ws2]].astype(np.float64).mean(axis=0)
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    def similar_by_word(self, word, topn=10, restrict_vocab=None):
        return self.most_similar(positive=[word], topn=topn, restrict_vocab=restrict_vocab)

    def similar_by_vector(self, vector, topn=10, restrict_vocab=None):
        return self.most_similar(positive=[np.asarray(vector, dtype=np.float32)], topn=topn,
                                 restrict_vocab=restrict_vocab)

    def doesnt_match(self, words):
        """The word furthest from the mean of the (unit) vectors of ``words`` (unknown words ignored)."""
        known = [w for w in words if w in self.key_to_index]
        if not known:
            raise NegsampleError("doesnt_match: none of the words is in the vocabulary")
        n = self.get_normed_vectors()[[self.key_to_index[w] for w in known]]
        mean = n.mean(axis=0)
        mean /= np.linalg.norm(mean) or 1.0
        return known[int(np.argmin(n @ mean))]

    def rank(self, key1, key2) -> int:
        """Rank of ``key2`` among all keys by similarity to ``key1`` (1 = the closest), like gensim."""
        n = self.get_normed_vectors()
        i, j = self.get_index(key1), self.get_index(key2)
        sims = n @ n[i]
        sims[i] = -np.inf
        return int(np.sum(sims > sims[j])) + 1

    def evaluate_word_analogies(self, analogies, restrict_vocab=300000, case_insensitive=True):
        """gensim's signature: returns (accuracy, sections) where sections is a list of
        {"section", "correct", "incorrect"} counts (the last one is "Total accuracy")."""
        from .evaluate import evaluate_analogies

        r = evaluate_analogies(self, analogies, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive)
        sections = [{"section": name, "correct": sec["correct"], "incorrect": sec["attempted"] - sec["correct"]}
                    for name, sec in r["sections"].items()]
        sections.append({"section": "Total accuracy", "correct": r["correct"],
                         "incorrect": r["attempted"] - r["correct"]})
        return r["total"], sections

    def evaluate_word_pairs(self, pairs, restrict_vocab=300000, case_insensitive=True):
        """gensim's signature: returns ((pearson, p), (spearman, p), oov_ratio in percent)."""
        from .evaluate import evaluate_similarity

        r = evaluate_similarity(self, pairs, case_insensitive=case_insensitive, restrict_vocab=restrict_vocab)
        total = r["evaluated"] + r["oov_pairs"]
        return ((r["pearson"], r.get("pearson_pvalue", float("nan"))),
                (r["spearman"], r.get("spearman_pvalue", float("nan"))),
                100.0 * r["oov_pairs"] / total if total else 0.0)

    # ------------------------------------------------------------------ formats
    def save_word2vec_format(self, path, binary=True, inputs=()):
        """Write the C tool's text or binary format, atomically (``inputs``: files the output must
        not replace)."""
        V, d = self.vectors.shape
        for w in self.index_to_key:
            if not w or any(ch.isspace() for ch in w):
                raise NegsampleError(f"word {w!r} is empty or contains whitespace: not representable in word2vec format")
            if len(w) > _MAX_WORD // 4 and len(w.encode("utf-8")) > _MAX_WORD:
                raise NegsampleError(f"a word of {len(w.encode('utf-8')):,} bytes is longer than the format's "
                                     f"{_MAX_WORD:,}-byte limit")
        with atomic_write(path, "wb", inputs=inputs, what="vectors") as fh:
            fh.write(f"{V} {d}\n".encode("utf-8"))
            if binary:
                vecs = self.vectors.astype("<f4", copy=False)
                for w, row in zip(self.index_to_key, vecs):
                    fh.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                for w, row in zip(self.index_to_key, self.vectors):
                    fh.write((w + " " + " ".join(repr(float(x)) for x in row) + "\n").encode("utf-8"))

    @classmethod
    def load_word2vec_format(cls, path, binary=None, limit=None):
        """Read the C tool's text or binary format (binary=None: detect), plain or compressed with
        gzip / bz2 / xz (detected from the content, e.g. GoogleNews-vectors-negative300.bin.gz).
        ``limit``: read only the first N vectors (the file is streamed, not read whole). The header's
        sizes are checked against the file and the machine before anything is allocated; truncated,
        malformed or non-finite data give a one-line error naming the line or the vector."""
        from .io import _physical_memory, open_input

        path = os.fspath(path)
        if limit is not None:
            if isinstance(limit, bool) or int(limit) != limit or int(limit) < 0:
                raise NegsampleError(f"limit must be a non-negative integer, got {limit!r}")
            limit = int(limit)
        fh = open_input(path, what="vectors file")
        try:
            reader = _Reader(fh, path)
            header = reader.line(max_bytes=256)
            parts = header.split()
            if len(parts) != 2 or not all(h.isdigit() for h in parts):
                raise NegsampleError(f"{path}: bad header {header[:60]!r}; expected 'vocab_size dim'")
            V, d = int(parts[0]), int(parts[1])
            if not 1 <= d <= 1_000_000:
                raise NegsampleError(f"{path}: header says dimension {d}")
            if limit is not None:
                V = min(V, limit)
            compressed = not isinstance(fh, io_module.BufferedReader)
            if V * d * 4 > 0.8 * _physical_memory():
                raise NegsampleError(f"{path}: the header claims {V:,} x {d} vectors ({V * d * 4 / 2**30:.1f} GiB), "
                                     "more than this machine's memory (use limit=)")
            if binary is None:
                binary = _looks_binary(reader.peek(4096 + 64 * d), d)
            if not compressed:
                remaining = os.fstat(fh.fileno()).st_size - reader.consumed
                per_row = 4 * d + 2 if binary else 2 * d + 1
                if V * per_row > remaining:
                    raise NegsampleError(f"{path}: the header claims {V:,} vectors of dimension {d} but the file holds "
                                         f"at most {remaining // per_row:,}")
            words, vecs = (_read_binary if binary else _read_text)(reader, V, d, path)
        finally:
            fh.close()
        if len(set(words)) != len(words):
            raise NegsampleError(f"{path}: duplicate words in the vocabulary")
        return cls(words, vecs)

    # native fast format: .npy vectors + vocabulary, memory-mappable
    def save(self, path):
        """Save as PATH.npy (vectors) and PATH.vocab (one word per line), atomically."""
        for w in self.index_to_key:
            if "\n" in w or "\r" in w:
                raise NegsampleError(f"word {w!r} contains a line break: not representable in the .vocab file")
        with atomic_write(str(path) + ".npy", "wb") as fh:
            np.save(fh, self.vectors)
        with atomic_write(str(path) + ".vocab", "w") as fh:
            fh.write("\n".join(self.index_to_key) + "\n")

    @classmethod
    def load(cls, path, mmap=True):
        """Load PATH.npy + PATH.vocab (memory-mapped by default); validated, never unpickled."""
        for ext in (".npy", ".vocab"):
            if not os.path.isfile(str(path) + ext):
                raise NegsampleError(f"{path}{ext} not found")
        try:
            vecs = np.load(str(path) + ".npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise NegsampleError(f"{path}.npy is not a vectors array: {str(exc).splitlines()[0]}") from None
        if not isinstance(vecs, np.ndarray) or vecs.ndim != 2 or vecs.dtype.kind != "f":
            raise NegsampleError(f"{path}.npy must hold a 2-D float array")
        try:
            with open(str(path) + ".vocab", encoding="utf-8") as fh:
                words = fh.read().split("\n")[:-1]
        except UnicodeDecodeError:
            raise NegsampleError(f"{path}.vocab is not UTF-8 text") from None
        if len(words) != vecs.shape[0]:
            raise NegsampleError(f"{path}: {len(words)} words for {vecs.shape[0]} vectors")
        return cls(words, vecs)


class _Reader:
    """Buffered reading of a (possibly decompressing) binary stream: lines, peeks, tokens."""

    def __init__(self, fh, path, chunk=1 << 20):
        self.fh, self.path, self.chunk = fh, path, chunk
        self.buf = b""
        self.pos = 0
        self.consumed = 0          # bytes handed out so far (from the start of the stream)
        self.eof = False

    def _fill(self, need):
        while len(self.buf) - self.pos < need and not self.eof:
            try:
                data = self.fh.read(max(self.chunk, need))
            except (OSError, EOFError) as exc:
                raise NegsampleError(f"{self.path}: corrupt or truncated data ({exc})") from None
            except Exception as exc:  # lzma.LZMAError and friends
                raise NegsampleError(f"{self.path}: corrupt compressed data ({exc})") from None
            if not data:
                self.eof = True
                break
            self.buf = self.buf[self.pos:] + data
            self.pos = 0
        return len(self.buf) - self.pos

    def peek(self, n):
        self._fill(n)
        return self.buf[self.pos:self.pos + n]

    def take(self, n):
        if self._fill(n) < n:
            raise EOFError
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        self.consumed += n
        return out

    def until(self, sep, max_bytes):
        """Bytes up to (not including) ``sep``, which is consumed; None at end of stream."""
        start = 0
        while True:
            k = self.buf.find(sep, self.pos + start)
            if k >= 0:
                out = self.buf[self.pos:k]
                self.consumed += k + len(sep) - self.pos
                self.pos = k + len(sep)
                return out
            have = len(self.buf) - self.pos
            if have > max_bytes:
                raise NegsampleError(f"{self.path}: a word or line longer than {max_bytes:,} bytes; the file is "
                                     "malformed")
            start = have
            if self.eof or self._fill(have + 1) <= have:
                if have == 0:
                    return None
                out = self.buf[self.pos:]
                self.consumed += have
                self.pos = len(self.buf)
                return out

    def line(self, max_bytes=1 << 24):
        raw = self.until(b"\n", max_bytes)
        return "" if raw is None else raw.decode("utf-8", errors="replace")

    def skip_newlines(self):
        while self._fill(1) and self.buf[self.pos:self.pos + 1] in (b"\n", b"\r"):
            self.pos += 1
            self.consumed += 1


_MAX_WORD = 1 << 20   # a word longer than 1 MiB is not a word: the file is malformed


def _read_binary(reader, V, d, path):
    words = []
    vecs = np.empty((V, d), dtype=np.float32)
    rowbytes = 4 * d
    for i in range(V):
        reader.skip_newlines()
        raw = reader.until(b" ", _MAX_WORD)
        if raw is None:
            raise NegsampleError(f"{path}: truncated binary file: {i} of {V} vectors read")
        words.append(raw.decode("utf-8", errors="replace"))
        try:
            vecs[i] = np.frombuffer(reader.take(rowbytes), dtype="<f4")
        except EOFError:
            raise NegsampleError(f"{path}: truncated binary file: vector {i + 1} of {V} is incomplete") from None
    bad = ~np.isfinite(vecs).all(axis=1)
    if bad.any():
        raise NegsampleError(f"{path}: vector {int(np.flatnonzero(bad)[0]) + 1} ({words[int(np.flatnonzero(bad)[0])]!r}) "
                             "contains NaN or infinite values (is this really a binary vectors file?)")
    return words, vecs


def _read_text(reader, V, d, path):
    words = []
    vecs = np.empty((V, d), dtype=np.float32)
    i = 0
    lineno = 1
    while i < V:
        raw = reader.until(b"\n", _MAX_WORD + 64 * d)
        lineno += 1
        if raw is None:
            raise NegsampleError(f"{path}: truncated text file: {i} of {V} vectors read")
        line = raw.decode("utf-8", errors="replace").rstrip()
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != d + 1:
            raise NegsampleError(f"{path}: line {lineno} has {len(parts) - 1} values, expected {d}")
        try:
            row = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise NegsampleError(f"{path}: line {lineno} has a non-numeric value") from None
        if not np.all(np.isfinite(row)):
            raise NegsampleError(f"{path}: line {lineno} ({parts[0]!r}) has a NaN or infinite value")
        vecs[i] = row
        words.append(parts[0])
        i += 1
    return words, vecs


def _limit(restrict_vocab, n):
    if restrict_vocab is None:
        return n
    if isinstance(restrict_vocab, bool) or int(restrict_vocab) != restrict_vocab or int(restrict_vocab) < 1:
        raise NegsampleError(f"restrict_vocab must be a positive integer, got {restrict_vocab!r}")
    return min(int(restrict_vocab), n)


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, str) or (isinstance(x, np.ndarray) and x.ndim == 1):
        return [x]
    return list(x)


def _looks_binary(sample: bytes, d: int) -> bool:
    line = sample.split(b"\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) >= d + 1:
        try:
            [float(p) for p in parts[1:d + 1]]
            return False
        except ValueError:
            return True
    return True
