"""KeyedVectors: a word -> vector table with gensim-like queries and word2vec file formats.

Similarity is cosine: sim(a, b) = a.b / (|a| |b|). Analogy a:b :: c:? (DESIGN, Levy & Goldberg):
- 3CosAdd: argmax_x cos(x, b - a + c) over unit vectors, the three query words excluded;
- 3CosMul: argmax_x cos'(x,b) cos'(x,c) / (cos'(x,a) + eps), cos' = (1 + cos) / 2.

Formats (the word2vec C tool's): a header line "V d", then per word either
"word v1 ... vd\\n" (text) or "word " + d little-endian float32 + "\\n" (binary).
Files are written atomically (temp file + rename).
"""
from __future__ import annotations

import difflib
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
        limit = len(self) if restrict_vocab is None else min(int(restrict_vocab), len(self))
        sims = normed[:limit] @ mean
        return self._top(sims, topn, exclude)

    def most_similar_cosmul(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """3CosMul (Levy & Goldberg 2014): prod cos'(x, p) / (prod cos'(x, n) + 1e-6), cos' = (1+cos)/2."""
        positive = _as_list(positive)
        negative = _as_list(negative)
        if not positive:
            raise NegsampleError("most_similar_cosmul needs at least one positive word/vector")
        normed = self.get_normed_vectors()
        limit = len(self) if restrict_vocab is None else min(int(restrict_vocab), len(self))
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

    # ------------------------------------------------------------------ formats
    def save_word2vec_format(self, path, binary=True, inputs=()):
        """Write the C tool's text or binary format, atomically (``inputs``: files the output must
        not replace)."""
        V, d = self.vectors.shape
        for w in self.index_to_key:
            if not w or any(ch.isspace() for ch in w):
                raise NegsampleError(f"word {w!r} is empty or contains whitespace: not representable in word2vec format")
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
        """Read the C tool's text or binary format (binary=None: detect). Clear errors for missing,
        truncated or malformed files."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise NegsampleError(f"vectors file not found: {path}")
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise NegsampleError(f"cannot read vectors file {path}: {exc.strerror}") from None
        nl = data.find(b"\n")
        header = data[:nl if nl >= 0 else len(data)].split()
        if nl < 0 or len(header) != 2 or not all(h.isdigit() for h in header):
            raise NegsampleError(f"{path}: bad header {data[:60]!r}; expected 'vocab_size dim'")
        V, d = int(header[0]), int(header[1])
        if d < 1:
            raise NegsampleError(f"{path}: header says dimension {d}")
        if limit is not None:
            V = min(V, int(limit))
        body = memoryview(data)[nl + 1:]
        if binary is None:
            binary = _looks_binary(bytes(body[:4096 + 64 * d]), d)
        if binary:
            words, vecs = _parse_binary(body, V, d, path)
        else:
            words, vecs = _parse_text(bytes(body), V, d, path)
        if len(set(words)) != len(words):
            raise NegsampleError(f"{path}: duplicate words in the vocabulary")
        return cls(words, vecs)

    # native fast format: .npy vectors + vocabulary, memory-mappable
    def save(self, path):
        """Save as PATH.npy (vectors) and PATH.vocab (one word per line), atomically."""
        with atomic_write(str(path) + ".npy", "wb") as fh:
            np.save(fh, self.vectors)
        with atomic_write(str(path) + ".vocab", "w") as fh:
            fh.write("\n".join(self.index_to_key) + "\n")

    @classmethod
    def load(cls, path, mmap=True):
        for ext in (".npy", ".vocab"):
            if not os.path.exists(str(path) + ext):
                raise NegsampleError(f"{path}{ext} not found")
        vecs = np.load(str(path) + ".npy", mmap_mode="r" if mmap else None)
        with open(str(path) + ".vocab", encoding="utf-8") as fh:
            words = fh.read().split("\n")[:-1]
        return cls(words, vecs)


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


def _parse_binary(body, V, d, path):
    words = []
    vecs = np.empty((V, d), dtype=np.float32)
    pos = 0
    n = len(body)
    raw = bytes(body)
    rowbytes = 4 * d
    for i in range(V):
        while pos < n and raw[pos:pos + 1] in (b"\n", b"\r"):
            pos += 1
        sp = raw.find(b" ", pos, pos + 10_000)
        if sp < 0:
            raise NegsampleError(f"{path}: truncated binary file: {i} of {V} vectors read")
        words.append(raw[pos:sp].decode("utf-8", errors="replace"))
        start = sp + 1
        if start + rowbytes > n:
            raise NegsampleError(f"{path}: truncated binary file: vector {i + 1} of {V} is incomplete")
        vecs[i] = np.frombuffer(raw, dtype="<f4", count=d, offset=start)
        pos = start + rowbytes
    if not np.all(np.isfinite(vecs)):
        raise NegsampleError(f"{path}: vectors contain NaN or infinite values (is this really a binary file?)")
    return words, vecs


def _parse_text(body, V, d, path):
    lines = body.decode("utf-8", errors="replace").split("\n")
    words = []
    vecs = np.empty((V, d), dtype=np.float32)
    i = 0
    for lineno, line in enumerate(lines, start=2):
        if i == V:
            break
        parts = line.rstrip().split(" ")
        if parts == [""]:
            continue
        if len(parts) != d + 1:
            raise NegsampleError(f"{path}: line {lineno} has {len(parts) - 1} values, expected {d}")
        try:
            vecs[i] = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise NegsampleError(f"{path}: line {lineno} has a non-numeric value") from None
        words.append(parts[0])
        i += 1
    if i < V:
        raise NegsampleError(f"{path}: truncated text file: {i} of {V} vectors read")
    return words, vecs
