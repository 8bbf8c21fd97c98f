"""Fast corpus preparation (negsample.corpus): identical vocabulary, ids and offsets to the
Python pipeline (word2vec.build_vocab + encode_corpus), on corpora built to hit every path:
invalid UTF-8, Unicode whitespace, long lines and tokens, chunk cuts, compressed files,
directories, and the bounded-memory pruning against a Python model of the C tool's ReduceVocab."""
import bz2
import gzip
import lzma
import os
import warnings

import numpy as np
import pytest

from negsample import NegsampleError
from negsample import corpus as C
from negsample.word2vec import build_vocab, encode_corpus

# pieces that exercise the decoder: valid multi-byte characters, every kind of whitespace,
# ill-formed sequences (lone continuation, overlong, surrogate, > U+10FFFF, truncated)
WORDS = [b"the", b"cat", b"sat", b"on", b"mat", b"a", b"caf\xc3\xa9", b"\xe4\xb8\xad\xe6\x96\x87",
         b"\xf0\x9f\x98\x80", b"x", b"yy", b"na\xc3\xafve", b"\x00nul"]
SPACES = [chr(c).encode() for c in range(0x3001) if chr(c).isspace() and c != 10] + [b"  "]
assert len(SPACES) == 29       # the 28 code points besides "\n" where str.isspace() is true, and "  "
BAD = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc3", b"\xe2\x80", b"\xe0\x80\xaf", b"\xed\xa0\x80",
       b"\xf0\x9f\x98", b"\xf4\x90\x80\x80", b"\xf5", b"\xff", b"\xe2\x82", b"\xc2\xc2\xa0",
       b"\xe2\xe2\x80\x83"]


def random_corpus(rng, n_lines=300, bad_rate=0.05, max_words=12):
    lines = []
    for _ in range(n_lines):
        r = rng.random()
        if r < 0.05:
            lines.append(b"")
            continue
        if r < 0.08:
            lines.append(b"".join(SPACES[i] for i in rng.integers(0, len(SPACES), 3)))
            continue
        parts = []
        for _ in range(int(rng.integers(1, max_words))):
            w = WORDS[int(rng.zipf(1.5)) % len(WORDS)]
            if rng.random() < bad_rate:                   # splice an ill-formed sequence in
                b = BAD[int(rng.integers(0, len(BAD)))]
                cut = int(rng.integers(0, len(w) + 1))
                w = w[:cut] + b + w[cut:]
            parts.append(w)
            parts.append(SPACES[int(rng.integers(0, len(SPACES)))] if rng.random() < 0.3 else b" ")
        lines.append(b"".join(parts))
    return lines


def write(path, data: bytes, opener=open):
    with opener(path, "wb") as fh:
        fh.write(data)
    return str(path)


def read_ids(fh):
    fh.seek(0)
    ids = np.frombuffer(fh.read(), np.int32)
    fh.close()
    return ids


def encoded(path, vocab):
    """The Python encoder: (ids, offsets)."""
    fh, offsets = encode_corpus(path, vocab)
    return read_ids(fh), offsets


def reference(path, min_count=1, max_vocab=None):
    """The Python pipeline: (vocab, ids, offsets)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vocab = build_vocab(path, min_count=min_count, max_vocab=max_vocab, warn=False)
    return (vocab,) + encoded(path, vocab)


def prepared(source, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pc = C.prepare_corpus(source, warn=False, **kw)
    return pc, read_ids(pc.ids)


def assert_same(pc, ids, ref):
    vocab, rids, roffsets = ref
    assert pc.vocab.words == vocab.words
    np.testing.assert_array_equal(pc.vocab.counts, vocab.counts)
    assert pc.vocab.counts.dtype == np.int64
    assert (pc.vocab.raw_words, pc.vocab.lines, pc.vocab.bad_lines) == \
        (vocab.raw_words, vocab.lines, vocab.bad_lines)
    np.testing.assert_array_equal(pc.offsets, roffsets)
    np.testing.assert_array_equal(ids, rids)


@pytest.fixture
def tiny_buffers(monkeypatch):
    """Every buffer tiny, so flushes, growth and carries happen many times."""
    for name, value in (("_OUT_CAP", 5), ("_LENS_CAP", 3), ("_TOK_BYTES", 4), ("_TABLE_CAPACITY", 2),
                        ("_ARENA_WORDS", 4), ("_REMAP_CHUNK", 7)):
        monkeypatch.setattr(C, name, value)


# ----------------------------------------------------------------------------- tokenising

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tokens_match_python_decode_and_split(tmp_path, seed):
    """min_count 1: every token of ``raw.decode('utf-8', 'replace').split()`` with its count."""
    rng = np.random.default_rng(seed)
    data = b"\n".join(random_corpus(rng, bad_rate=0.2))
    if seed == 1:
        data += b"\n"                   # with and without a final newline
    path = write(tmp_path / "c.txt", data)
    pc, ids = prepared(path, min_count=1, chunk_bytes=64)
    expect = {}
    for raw in data.split(b"\n"):
        for t in raw.decode("utf-8", errors="replace").split():
            expect[t] = expect.get(t, 0) + 1
    assert dict(zip(pc.vocab.words, pc.vocab.counts.tolist())) == expect
    assert_same(pc, ids, reference(path))


def test_random_bytes_fuzz(tmp_path, tiny_buffers):
    """Uniformly random bytes (mostly ill-formed) with tiny buffers and odd chunk sizes."""
    rng = np.random.default_rng(7)
    alphabet = np.frombuffer(b"ab \n\t\x80\xbf\xc2\xa0\xe2\x80\x83\xed\xf0\x9f\xf4\x90\xff\xe3", np.uint8)
    for trial in range(6):
        data = alphabet[rng.integers(0, alphabet.size, 3000)].tobytes()
        path = write(tmp_path / f"f{trial}.txt", data)
        pc, ids = prepared(path, min_count=1, chunk_bytes=int(rng.integers(1, 50)))
        assert_same(pc, ids, reference(path))


@pytest.mark.parametrize("chunk", [1, 3, 17, 1 << 20])
def test_same_as_python_pipeline_any_chunking(tmp_path, tiny_buffers, chunk):
    rng = np.random.default_rng(11)
    path = write(tmp_path / "c.txt", b"\n".join(random_corpus(rng, n_lines=200)) + b"\n")
    for min_count, max_vocab in ((1, None), (3, None), (2, 4)):
        pc, ids = prepared(path, min_count=min_count, max_vocab=max_vocab, chunk_bytes=chunk)
        assert_same(pc, ids, reference(path, min_count, max_vocab))


def test_edge_lines(tmp_path, tiny_buffers):
    """Empty lines, whitespace-only lines (also as an unterminated last line), CRLF, sentences
    that become empty once rare words are dropped, a very long line and a very long token."""
    long_line = b" ".join(b"w%d" % (i % 50) for i in range(20000))
    long_token = b"z" * 5000 + b"\xff" + b"z" * 100
    data = (b"\n\n  \t \n" + b"a b\r\n" + b"rare1 rare2\n" + long_line + b"\n" + long_token
            + b" a\n" + b"a a b\n" + b"\xe2\x80\x83 \n" + b"b  \xc2\xa0 ")
    path = write(tmp_path / "edge.txt", data)
    for min_count in (1, 2):
        pc, ids = prepared(path, min_count=min_count, chunk_bytes=1000)
        assert_same(pc, ids, reference(path, min_count))
    assert pc.vocab.lines == 10 and pc.vocab.bad_lines == 1


# ----------------------------------------------------------------------------- input forms

@pytest.mark.parametrize("ext,opener", [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)])
def test_compressed_input(tmp_path, ext, opener):
    rng = np.random.default_rng(3)
    data = b"\n".join(random_corpus(rng, n_lines=400)) + b"\n"
    path = write(tmp_path / ("c.txt" + ext), data, opener)
    plain = write(tmp_path / "c.txt", data)
    pc, ids = prepared(path, min_count=2, chunk_bytes=100)
    assert_same(pc, ids, reference(plain, 2))
    assert_same(pc, ids, reference(path, 2))


def test_directory_and_file_list_are_one_corpus(tmp_path):
    """A directory: its files in name order (hidden files and subdirectories skipped), each
    file's last line ending at the file's end, like reading the files one after the other."""
    rng = np.random.default_rng(5)
    d = tmp_path / "parts"
    d.mkdir()
    (d / "sub").mkdir()
    write(d / ".hidden", b"hidden words\n")
    parts = [b"\n".join(random_corpus(rng, n_lines=50)) for _ in range(3)]   # no final newline
    write(d / "b.txt", parts[1])
    write(d / "a.txt.gz", parts[0], gzip.open)
    write(d / "c.txt", parts[2] + b"\n")
    write(d / "d.txt", b"")
    joined = write(tmp_path / "joined.txt", parts[0] + b"\n" + parts[1] + b"\n" + parts[2] + b"\n")
    ref = reference(joined, 2)
    assert C.corpus_files(d) == [str(d / n) for n in ("a.txt.gz", "b.txt", "c.txt", "d.txt")]
    pc, ids = prepared(d, min_count=2)
    assert_same(pc, ids, ref)
    pc, ids = prepared([d / "a.txt.gz", d / "b.txt", str(d / "c.txt")], min_count=2)
    assert_same(pc, ids, ref)
    assert pc.stats["files"] == 3


# ----------------------------------------------------------------------------- bounded memory

def reduce_vocab_model(tokens, max_types):
    """The C tool's ReduceVocab as a Python model: when a new token would make the table hold
    more than max_types - 1 ... i.e. when the table is full, drop counts <= m, m += 1."""
    counts, m = {}, 1
    for t in tokens:
        if t not in counts:
            while len(counts) >= max_types:
                counts = {w: c for w, c in counts.items() if c > m}
                m += 1
            counts[t] = 0
        counts[t] += 1
    return counts, m - 1


def test_pruning_matches_reducevocab_and_encodes_against_final_vocab(tmp_path, tiny_buffers):
    rng = np.random.default_rng(9)
    lines = [b" ".join(b"t%d" % int(v) for v in rng.zipf(1.3, int(rng.integers(1, 15))))
             for _ in range(400)]
    data = b"\n".join(lines) + b"\n"
    path = write(tmp_path / "z.txt", data)
    tokens = data.decode().split()
    full_types = len(set(tokens))
    max_types = 40
    model, rounds = reduce_vocab_model(tokens, max_types)
    assert rounds > 0 and full_types > max_types
    pc, ids = prepared(path, min_count=2, max_types=max_types)
    expect = sorted(((w, c) for w, c in model.items() if c >= 2), key=lambda wc: (-wc[1], wc[0]))
    assert list(zip(pc.vocab.words, pc.vocab.counts.tolist())) == expect
    assert pc.stats["prune_rounds"] == rounds and pc.stats["passes"] == 2
    # the ids are the Python encoder's for that (pruned) vocabulary
    rids, roffsets = encoded(path, pc.vocab)
    np.testing.assert_array_equal(ids, rids)
    np.testing.assert_array_equal(pc.offsets, roffsets)
    # pruning only ever undercounts, and a table that fits changes nothing
    true = {}
    for t in tokens:
        true[t] = true.get(t, 0) + 1
    assert all(c <= true[w] for w, c in zip(pc.vocab.words, pc.vocab.counts.tolist()))
    pc2, ids2 = prepared(path, min_count=2, max_types=full_types + 1)
    assert pc2.stats["prune_rounds"] == 0 and pc2.stats["passes"] == 1
    assert_same(pc2, ids2, reference(path, 2))


# ----------------------------------------------------------------------------- errors

def test_errors(tmp_path):
    with pytest.raises(NegsampleError, match="corpus not found"):
        C.prepare_corpus(tmp_path / "missing.txt")
    with pytest.raises(NegsampleError, match="corpus is empty"):
        C.prepare_corpus(write(tmp_path / "e.txt", b" \n\t\n"))
    with pytest.raises(NegsampleError, match="no word reaches min_count=5"):
        C.prepare_corpus(write(tmp_path / "s.txt", b"a b c\n"), min_count=5)
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(NegsampleError, match="has no files"):
        C.prepare_corpus(tmp_path / "emptydir")
    noise = np.random.default_rng(0).integers(97, 123, 400_000, dtype=np.uint8).tobytes()
    good = gzip.compress(noise)
    with pytest.raises(NegsampleError, match="corrupt or truncated after 0 lines"):
        C.prepare_corpus(write(tmp_path / "t.txt.gz", good[:len(good) // 2]), min_count=1)
    with pytest.raises(NegsampleError, match="max_types"):
        C.prepare_corpus(write(tmp_path / "ok.txt", b"a b\n"), max_types=0)


def test_bad_lines_warn(tmp_path):
    path = write(tmp_path / "w.txt", b"ok ok\nbad \xff ok\n")
    with pytest.warns(UserWarning, match="1 of 2 lines had invalid UTF-8"):
        pc = C.prepare_corpus(path, min_count=1)
    pc.ids.close()


def test_output_file_given(tmp_path):
    path = write(tmp_path / "c.txt", b"a b a\nb c\n")
    with open(tmp_path / "ids.int32", "w+b") as fh:
        fh.write(b"old content that must go away")
        pc = C.prepare_corpus(path, min_count=2, out=fh)
        assert pc.ids is fh
        np.testing.assert_array_equal(np.fromfile(tmp_path / "ids.int32", np.int32), [0, 1, 0, 1])
    np.testing.assert_array_equal(pc.offsets, [0, 3, 4])


def test_encode_against_a_given_vocabulary(tmp_path, tiny_buffers):
    """Resuming: the ids of a corpus for a vocabulary made elsewhere (words absent from the
    corpus, and words that are not single tokens, get no occurrences)."""
    from negsample.word2vec import Vocabulary

    rng = np.random.default_rng(4)
    path = write(tmp_path / "c.txt", b"\n".join(random_corpus(rng, n_lines=150)) + b"\n")
    vocab = build_vocab(path, min_count=3, warn=False)
    words = vocab.words[::2] + ["not in corpus", "zzz", "a b", "", "x\udcff"]
    other = Vocabulary(words, np.arange(len(words), 0, -1, dtype=np.int64), raw_words=1, lines=1)
    pc, ids = prepared(path, vocab=other, chunk_bytes=40)
    assert pc.vocab is other
    rids, roffsets = encoded(path, other)
    np.testing.assert_array_equal(ids, rids)
    np.testing.assert_array_equal(pc.offsets, roffsets)


def test_jit_and_native_backends_agree(tmp_path, monkeypatch):
    """Same vocabulary and ids from the numba JIT functions as from whichever backend loaded."""
    from negsample.kernels import corpus as jit

    rng = np.random.default_rng(12)
    path = write(tmp_path / "c.txt", b"\n".join(random_corpus(rng, bad_rate=0.2)) + b"\n")
    a = prepared(path, min_count=2)
    monkeypatch.setattr(C, "_BACKEND", [jit])
    b = prepared(path, min_count=2)
    assert_same(a[0], a[1], (b[0].vocab, b[1], b[0].offsets))
