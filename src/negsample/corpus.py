"""Corpus preparation at native speed: text files -> vocabulary + int32 id file, in one pass.

``prepare_corpus(source, min_count, max_vocab)`` gives exactly what ``word2vec.build_vocab`` +
``word2vec.encode_corpus`` give (same ``Vocabulary``: words by decreasing count, ties in code
point order, counts, raw_words, lines, bad_lines; same ids and sentence offsets: out-of-vocabulary
tokens dropped, sentences left empty dropped), with the work in compiled kernels
(``negsample.kernels.corpus``):

1. a reader thread reads the files (plain, .gz, .bz2, .xz; Python's decompressors release the
   GIL) in chunks of ``chunk_bytes`` and hands them over a small queue;
2. the scan kernel decodes UTF-8 (invalid bytes replaced exactly like
   ``bytes.decode("utf-8", errors="replace")``), splits on whitespace exactly like
   ``str.split()``, counts each token in a hash table and writes its *provisional* id (order of
   first appearance) to the id file, plus each line's token count;
3. at the end the vocabulary is sorted and a remap kernel rewrites the id file in place:
   provisional id -> final id, out-of-vocabulary ids and emptied sentences dropped.

Source: a file path, a directory (its regular files in name order, not recursive, hidden files
skipped: gensim's ``PathLineSentences``) or a list of file paths, read as one corpus (a line
never continues into the next file).

Bounded memory (``max_types``): the count table holds at most ``max_types`` distinct tokens. When
a new token would exceed it, the entries with count <= m are dropped (m = 1, then 2, ...: the
word2vec C tool's ReduceVocab), so a corpus with 10^8 distinct tokens is counted in a table of
fixed size; the counts of words that were dropped and came back start again from zero (they are
undercounts: docs/word2vec.md measures the effect). Once pruning has happened the provisional ids
are void, so the corpus is read a second time to encode it against the final vocabulary.
"""
from __future__ import annotations

import lzma
import os
import queue
import tempfile
import threading
import time
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

from ._common import NegsampleError, check_positive_int
from .kernels import corpus_layout as L

__all__ = ["corpus_files", "prepare_corpus", "PreparedCorpus", "DEFAULT_MAX_TYPES"]

DEFAULT_MAX_TYPES = 20_000_000      # like the C tool's 21M (a table of 30M slots at 0.7 load)
_STREAM_ERRORS = (OSError, lzma.LZMAError, zlib.error, EOFError, ValueError)


class _NativeCorpusKernels:
    """The corpus kernels from the native library (``kernels.native``; no numba in-process), with
    the same call signatures as the numba functions of ``kernels.corpus``."""

    def __init__(self, native):
        self._call = native._call

    def scan_core(self, buf, n, final, state, slots, a64, a8, rec, tok, out_ids, out_lens, bst, blen, bh):
        return self._call("corpus_scan", dict(buf=buf, n=n, final=final, state=state, slots=slots, a64=a64, a8=a8,
                                              rec=rec, tok=tok, out_ids=out_ids, out_lens=out_lens, bst=bst,
                                              blen=blen, bh=bh))

    def last_break(self, buf, n):
        return self._call("corpus_last_break", dict(buf=buf, n=n))

    def rehash_core(self, slots, a64, a8, rec, n_ent):
        return self._call("corpus_rehash", dict(slots=slots, a64=a64, a8=a8, rec=rec, n_ent=n_ent))

    def prune_core(self, min_reduce, state, slots, a64, a8, rec):
        return self._call("corpus_prune", dict(min_reduce=min_reduce, state=state, slots=slots, a64=a64, a8=a8,
                                               rec=rec))

    def counts_core(self, a64, rec, n_ent, counts, lengths):
        return self._call("corpus_counts", dict(a64=a64, rec=rec, n_ent=n_ent, counts=counts, lengths=lengths))

    def gather_core(self, a8, a64, rec, entries, out):
        return self._call("corpus_gather", dict(a8=a8, a64=a64, rec=rec, entries=entries, out=out))

    def set_ids_core(self, a64, rec, n_ent, to_final):
        return self._call("corpus_set_ids", dict(a64=a64, rec=rec, n_ent=n_ent, to_final=to_final))

    def remap_core(self, ids, n, lens, n_lens, to_final, rstate, offsets):
        return self._call("corpus_remap", dict(ids=ids, n=n, lens=lens, n_lens_used=n_lens, to_final=to_final,
                                               rstate=rstate, offsets=offsets))


_BACKEND: list = []


def _kernels():
    """The corpus kernels: native when the library loads, else the numba JIT functions."""
    if not _BACKEND:
        from .kernels import native

        if native.load() is not None:
            _BACKEND.append(_NativeCorpusKernels(native))
        else:
            from .kernels import corpus as jit

            _BACKEND.append(jit)
    return _BACKEND[0]


# --------------------------------------------------------------------------- input files

def corpus_files(source) -> list:
    """The files of a corpus: a file, a directory (its regular, non-hidden files in name order;
    not recursive) or a list of file paths."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if not n.startswith("."))
            files = [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
            if not files:
                raise NegsampleError(f"corpus directory has no files: {path}")
            paths = files
        else:
            paths = [path]
    else:
        try:
            paths = [os.fspath(p) for p in source]
        except TypeError:
            raise NegsampleError("corpus must be a path, a directory or a list of file paths") from None
        if not paths:
            raise NegsampleError("corpus is an empty list of files")
    for path in paths:
        _open(path).close()                 # fail early: missing, unreadable, corrupt header
    return paths


def _open(path):
    """Binary reader of one corpus file (gzip / bz2 / xz detected from the first bytes)."""
    from .io import open_input

    return open_input(path, what="corpus")


class _Reader:
    """Reads the files in a background thread: yields (file index, bytes) and (file index, None)
    at the end of each file. Errors are re-raised in the consumer."""

    def __init__(self, paths, chunk_bytes, depth=4):
        self.paths = paths
        self.chunk_bytes = chunk_bytes
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.busy_seconds = 0.0          # time spent inside read() (decompressing), this thread
        self.bytes = 0
        self.thread = threading.Thread(target=self._run, name="negsample-corpus-reader", daemon=True)
        self.thread.start()

    def _put(self, item):
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self):
        try:
            for fi, path in enumerate(self.paths):
                t0 = time.perf_counter()
                fh = _open(path)
                try:
                    while not self.stop.is_set():
                        data = fh.read(self.chunk_bytes)
                        self.busy_seconds += time.perf_counter() - t0
                        if not data:
                            break
                        self.bytes += len(data)
                        if not self._put((fi, data)):
                            return
                        t0 = time.perf_counter()
                finally:
                    fh.close()
                if not self._put((fi, None)):
                    return
            self._put(None)
        except NegsampleError as exc:
            self._put(exc)
        except _STREAM_ERRORS as exc:
            self._put((fi, exc))

    def __iter__(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            if isinstance(item, NegsampleError):
                raise item
            yield item

    def close(self):
        self.stop.set()
        self.thread.join()


# --------------------------------------------------------------------------- the table

class _Table:
    """The kernels' hash table of byte strings with counts (see ``kernels.corpus``)."""

    def __init__(self, capacity=1 << 16, arena_words=1 << 18):
        capacity = 1 << max(4, int(capacity - 1).bit_length())   # a power of two: slots are probed & (size - 1)
        self.slots = np.full(2 * capacity, -1, np.int64)
        self.rec = np.empty(capacity, np.int64)
        self.a64 = np.empty(arena_words, np.int64)
        self.a8 = self.a64.view(np.uint8)
        self.state = np.zeros(L.N_STATE, np.int64)

    @property
    def n(self):
        return int(self.state[L.N_ENT])

    def grow_entries(self):
        n = self.n
        cap = 2 * self.rec.shape[0]
        rec = np.empty(cap, np.int64)
        rec[:n] = self.rec[:n]
        self.rec = rec
        self.slots = np.empty(2 * cap, np.int64)
        _kernels().rehash_core(self.slots, self.a64, self.a8, self.rec, n)

    def grow_arena(self, need_bytes=0):
        used = int(self.state[L.ARENA_USED])
        new = np.empty(max(2 * self.a64.shape[0], used + need_bytes // 8 + 2), np.int64)
        new[:used] = self.a64[:used]
        self.a64 = new
        self.a8 = new.view(np.uint8)

    def counts(self):
        """(counts, byte lengths) of the entries, by provisional id."""
        n = self.n
        counts = np.empty(n, np.int64)
        lengths = np.empty(n, np.int64)
        _kernels().counts_core(self.a64, self.rec, n, counts, lengths)
        return counts, lengths

    def words(self, entries, lengths):
        """The entries' words as str (decoded from one gathered blob)."""
        entries = np.ascontiguousarray(entries, np.int64)
        ln = lengths[entries]
        blob = np.empty(int(ln.sum()), np.uint8)
        _kernels().gather_core(self.a8, self.a64, self.rec, entries, blob)
        data = blob.tobytes()
        ends = np.cumsum(ln).tolist()
        out, start = [], 0
        for end in ends:
            out.append(data[start:end].decode("utf-8"))
            start = end
        return out


# --------------------------------------------------------------------------- the scan

@dataclass
class _ScanResult:
    lines: int = 0
    bad_lines: int = 0
    tokens: int = 0
    ids_written: int = 0
    lens: np.ndarray = None      # (1 + lines with ids,) int64: [0, len_1, len_2, ...] (slot 0 spare)
    n_lens: int = 0
    pruned: int = 0              # number of ReduceVocab rounds
    pruned_tokens: int = 0       # token occurrences whose counts were dropped
    min_reduce: int = 1
    read_seconds: float = 0.0    # reader thread inside read()/decompression (overlaps the scan)
    wait_seconds: float = 0.0    # scanner waiting for input
    scan_seconds: float = 0.0
    bytes: int = 0


# buffer sizes (module constants so the tests can make them tiny and reach every path)
_OUT_CAP = 1 << 18          # ids per flush
_LENS_CAP = 1 << 16         # line lengths per flush
_TOK_BYTES = 1 << 12        # initial scratch for a token with replacement characters
_TABLE_CAPACITY = 1 << 16   # initial entries
_ARENA_WORDS = 1 << 18      # initial arena (8-byte words)
_REMAP_CHUNK = 1 << 20      # ids per piece when remapping the id file


def _scan(paths, table: _Table, mode, ids_fh, chunk_bytes, max_types):
    """Run the scan kernel over all files. Writes emitted ids to ids_fh; returns _ScanResult."""
    k = _kernels()
    st = table.state
    st[L.MODE] = mode
    st[L.MAX_ENT] = max_types if (max_types and mode != L.MODE_LOOKUP) else 0
    out_ids = np.empty(_OUT_CAP, np.int32)
    out_lens = np.empty(_LENS_CAP, np.int64)
    tok = np.empty(_TOK_BYTES, np.uint8)
    bst = np.empty(L.BATCH, np.int64)
    blen = np.empty(L.BATCH, np.int64)
    bh = np.empty(L.BATCH, np.uint64)
    work = np.empty(2 * chunk_bytes, np.uint8)
    have = 0
    res = _ScanResult()
    reader = _Reader(paths, chunk_bytes)

    def flush_ids():
        n = int(st[L.N_OUT])
        if n and st[L.MODE] != L.MODE_COUNT:
            out_ids[:n].tofile(ids_fh)
            res.ids_written += n
        st[L.N_OUT] = 0

    res.lens = np.zeros(1 + _LENS_CAP, np.int64)

    def flush_lens():
        n = int(st[L.N_LENS])
        if n:
            end = 1 + res.n_lens + n
            if end > res.lens.shape[0]:
                grown = np.zeros(max(2 * res.lens.shape[0], end), np.int64)
                grown[:1 + res.n_lens] = res.lens[:1 + res.n_lens]
                res.lens = grown
            res.lens[1 + res.n_lens:end] = out_lens[:n]
            res.n_lens += n
        st[L.N_LENS] = 0

    def run(n, final):
        nonlocal tok
        st[L.POS] = 0
        while True:
            s = k.scan_core(work, n, final, st, table.slots, table.a64, table.a8, table.rec, tok,
                            out_ids, out_lens, bst, blen, bh)
            if s == L.DONE:
                return
            if s == L.FLUSH_IDS:
                flush_ids()
            elif s == L.FLUSH_LENS:
                flush_lens()
            elif s == L.GROW_TABLE:
                table.grow_entries()
            elif s == L.GROW_ARENA:
                table.grow_arena(n)
            elif s == L.GROW_TOKEN:
                tok = np.empty(2 * tok.shape[0], np.uint8)
            elif s == L.PRUNE:
                if st[L.MODE] == L.MODE_COUNT_ENCODE:      # provisional ids are void from now on
                    st[L.MODE] = L.MODE_COUNT
                    st[L.N_OUT] = 0
                    st[L.N_LENS] = 0
                    res.n_lens = 0
                    ids_fh.seek(0)
                    ids_fh.truncate()
                    res.ids_written = 0
                while table.n >= max_types:
                    res.pruned_tokens += int(k.prune_core(res.min_reduce, st, table.slots, table.a64,
                                                          table.a8, table.rec))
                    res.pruned += 1
                    res.min_reduce += 1
            else:  # pragma: no cover - a kernel/driver mismatch
                raise RuntimeError(f"corpus scan kernel returned status {s}")

    t_start = time.perf_counter()
    file_lines = 0
    try:
        t0 = time.perf_counter()
        for fi, data in reader:
            res.wait_seconds += time.perf_counter() - t0
            if isinstance(data, BaseException):
                raise NegsampleError(f"corpus {paths[fi]} is corrupt or truncated after "
                                     f"{int(st[L.LINES]) - file_lines} lines: {data}")
            if data is None:                           # end of file: finish its last line
                run(have, 1)
                have = 0
                file_lines = int(st[L.LINES])
                t0 = time.perf_counter()
                continue
            m = len(data)
            if have + m > work.shape[0]:
                new = np.empty(max(2 * work.shape[0], have + m), np.uint8)
                new[:have] = work[:have]
                work = new
            work[have:have + m] = np.frombuffer(data, np.uint8)
            have += m
            cut = int(k.last_break(work, have))
            if cut:
                run(cut, 0)
                rest = have - cut
                work[:rest] = work[cut:have]
                have = rest
            t0 = time.perf_counter()
    finally:
        reader.close()
    flush_ids()
    flush_lens()
    res.lines, res.bad_lines, res.tokens = int(st[L.LINES]), int(st[L.BAD_LINES]), int(st[L.TOKENS])
    res.read_seconds = reader.busy_seconds
    res.bytes = reader.bytes
    res.scan_seconds = time.perf_counter() - t_start - res.wait_seconds
    return res


def _remap_in_place(fh, n_ids, lens_buf, n_lens, to_final):
    """Provisional ids in the file ``fh`` -> final ids (OOV and emptied lines dropped), rewritten
    in place (writes never overtake reads). ``lens_buf[1:1 + n_lens]`` are the lines' lengths;
    the offsets (S+1,) int64 are written over them (offset i is written only once the length at
    index i has been read) and returned as a view."""
    k = _kernels()
    offsets = lens_buf
    lens = lens_buf[1:1 + n_lens]
    offsets[0] = 0
    rstate = np.zeros(L.N_REMAP_STATE, np.int64)
    rstate[4] = 1
    chunk = _REMAP_CHUNK
    buf = np.empty(chunk, np.int32)
    r = w = 0
    fh.flush()
    fd = fh.fileno()
    while r < n_ids:
        m = min(chunk, n_ids - r)
        got = os.preadv(fd, [memoryview(buf[:m]).cast("B")], 4 * r)
        if got != 4 * m:
            raise NegsampleError("the encoded corpus file is shorter than written")
        kept = int(k.remap_core(buf, m, lens, n_lens, to_final, rstate, offsets))
        if kept:
            os.pwrite(fd, memoryview(buf[:kept]).cast("B"), 4 * w)
        r += m
        w += kept
    os.ftruncate(fd, 4 * w)
    fh.seek(0)
    return offsets[:int(rstate[4])]


# --------------------------------------------------------------------------- the API

@dataclass
class PreparedCorpus:
    """A corpus ready for training: the vocabulary, the int32 id file (an open binary file) and
    the sentence offsets (S+1,) int64."""
    vocab: object
    ids: object
    offsets: np.ndarray
    stats: dict


def _table_of_words(words):
    """A lookup table whose entry i is words[i] (final ids), built by scanning the words one per
    line. Returns (table, to_final) with to_final mapping the scan's provisional ids to i; a word
    that is not a single whitespace-free UTF-8 token (it cannot occur in a file) gets no id."""
    lines = []
    for w in words:
        try:
            b = w.encode("utf-8")
        except UnicodeEncodeError:
            b = b""
        lines.append(b)
    data = b"\n".join(lines) + b"\n"
    table = _Table(max(16, len(words)), max(64, len(data) // 2))
    k = _kernels()
    st = table.state
    st[L.MODE] = L.MODE_COUNT_ENCODE
    buf = np.frombuffer(data, np.uint8)
    n_tok = len(data) // 2 + 1
    out_ids = np.empty(n_tok, np.int32)
    out_lens = np.empty(len(words) + 1, np.int64)
    tok = np.empty(max(16, 3 * len(data)), np.uint8)
    bst, blen, bh = np.empty(L.BATCH, np.int64), np.empty(L.BATCH, np.int64), np.empty(L.BATCH, np.uint64)
    while True:
        s = k.scan_core(buf, buf.shape[0], 1, st, table.slots, table.a64, table.a8, table.rec, tok, out_ids,
                        out_lens, bst, blen, bh)
        if s == L.DONE:
            break
        if s == L.GROW_TABLE:
            table.grow_entries()
        elif s == L.GROW_ARENA:
            table.grow_arena(len(data))
        else:  # pragma: no cover - buffers are sized for the worst case
            raise RuntimeError(f"corpus scan kernel returned status {s}")
    # per line: the number of tokens it had; lines with exactly one token define an id
    to_final = np.full(table.n, -1, np.int32)
    pos = 0
    li = 0
    nl = int(st[L.N_LENS])
    lens = out_lens[:nl]
    # lines with no token emitted no length: walk the words and the emitted lengths together
    for i, b in enumerate(lines):
        ntoks = len(b.decode("utf-8").split()) if b else 0
        if ntoks == 0:
            continue
        assert li < nl and lens[li] == ntoks
        if ntoks == 1:
            to_final[out_ids[pos]] = i
        pos += ntoks
        li += 1
    st[L.N_OUT] = 0
    st[L.N_LENS] = 0
    return table, to_final


def _lookup_pass(paths, table, to_final, out, chunk_bytes):
    """Encode the corpus against the table's final ids (MODE_LOOKUP). Returns (scan, offsets)."""
    k = _kernels()
    k.set_ids_core(table.a64, table.rec, table.n, to_final)
    fresh = np.zeros(L.N_STATE, np.int64)
    fresh[L.N_ENT], fresh[L.ARENA_USED] = table.n, table.state[L.ARENA_USED]
    table.state = fresh
    out.seek(0)
    out.truncate()
    res = _scan(paths, table, L.MODE_LOOKUP, out, chunk_bytes, None)
    out.flush()
    out.seek(0)
    offsets = res.lens[:1 + res.n_lens]
    offsets[0] = 0
    np.cumsum(offsets, out=offsets)
    return res, offsets


def prepare_corpus(source, min_count=5, max_vocab=None, out=None, vocab=None, max_types=DEFAULT_MAX_TYPES,
                   warn=True, chunk_bytes=1 << 20) -> PreparedCorpus:
    """Count and encode a corpus in one pass (see the module docstring).

    ``source``: a file, a directory or a list of files. ``out``: a binary file object opened for
    reading and writing (default: an unnamed temporary file) that receives the int32 ids.
    ``vocab``: encode against this ``Vocabulary`` instead of counting (resuming a run).
    Returns a ``PreparedCorpus``: ``vocab``, ``ids`` (the file, positioned at 0), ``offsets``
    (S+1,) int64 of the non-empty sentences (OOV dropped), and ``stats`` (seconds per stage,
    bytes, lines, tokens, pruning rounds, passes).
    """
    from .word2vec import Vocabulary

    min_count = check_positive_int("min_count", min_count)
    if max_vocab is not None:
        max_vocab = check_positive_int("max_vocab", max_vocab)
    if max_types is not None:
        max_types = check_positive_int("max_types", max_types, minimum=2)
    chunk_bytes = check_positive_int("chunk_bytes", chunk_bytes)
    paths = corpus_files(source)
    name = paths[0] if len(paths) == 1 else f"{len(paths)} files"
    t0 = time.perf_counter()
    own = out is None
    if own:
        out = tempfile.TemporaryFile(prefix="negsample-corpus-")
    try:
        second = None
        if vocab is not None:                                     # encode only
            table, to_final = _table_of_words(vocab.words)
            res, offsets = _lookup_pass(paths, table, to_final, out, chunk_bytes)
            del table
            t_scan = t_vocab = time.perf_counter()
            n = None
        else:
            table = _Table(_TABLE_CAPACITY, _ARENA_WORDS)
            out.seek(0)
            out.truncate()
            res = _scan(paths, table, L.MODE_COUNT_ENCODE, out, chunk_bytes, max_types)
            t_scan = time.perf_counter()
            if res.tokens == 0:
                raise NegsampleError(f"corpus is empty: no tokens in {name}")
            if res.bad_lines and warn:
                warnings.warn(f"corpus: {res.bad_lines} of {res.lines} lines had invalid UTF-8 bytes "
                              "(decoded with replacement characters)", stacklevel=2)
            n = table.n
            counts, lengths = table.counts()
            kept = np.flatnonzero(counts >= min_count)
            if kept.size == 0:
                raise NegsampleError(f"no word reaches min_count={min_count} ({n} distinct words in "
                                     f"{res.tokens} tokens); lower --min-count")
            words = table.words(kept, lengths)
            kc = counts[kept]
            kcl = kc.tolist()
            order = sorted(range(len(words)), key=lambda i: (-kcl[i], words[i]))
            if max_vocab is not None:
                order = order[:max_vocab]
            vocab = Vocabulary([words[i] for i in order], kc[order].astype(np.int64),
                               raw_words=res.tokens, lines=res.lines)
            vocab.bad_lines = res.bad_lines
            final_entries = kept[order]
            del words, counts, lengths, kept, order
            to_final = np.full(n, -1, np.int32)
            to_final[final_entries] = np.arange(final_entries.size, dtype=np.int32)
            t_vocab = time.perf_counter()
            if not res.pruned:
                del table                                         # free the count table first
                offsets = _remap_in_place(out, res.ids_written, res.lens, res.n_lens, to_final)
                res.lens = None
            else:                         # the provisional ids are void: encode in a second pass
                res.lens = None
                second, offsets = _lookup_pass(paths, table, to_final, out, chunk_bytes)
                del table
        t_end = time.perf_counter()
        if offsets[-1] == 0:
            raise NegsampleError("no in-vocabulary tokens left to train on")
    except BaseException:
        if own:
            out.close()
        raise
    enc = second if second is not None else res
    stats = {"files": len(paths), "bytes": res.bytes, "lines": res.lines, "tokens": res.tokens,
             "types": n if not res.pruned else None, "vocab_size": len(vocab),
             "read_seconds": res.read_seconds + (second.read_seconds if second else 0.0),
             "scan_wait_seconds": res.wait_seconds, "scan_seconds": res.scan_seconds,
             "vocab_seconds": t_vocab - t_scan, "encode_seconds": t_end - t_vocab, "prep_seconds": t_end - t0,
             "prune_rounds": res.pruned, "pruned_tokens": res.pruned_tokens,
             "passes": 2 if second is not None else 1, "encoded_tokens": int(offsets[-1]),
             "sentences": int(offsets.shape[0] - 1), "bad_lines": enc.bad_lines}
    return PreparedCorpus(vocab, out, offsets, stats)
