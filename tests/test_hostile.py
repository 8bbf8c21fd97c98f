"""Hostile inputs (issue 13): one test per class, the reported examples kept as tests, and a
property-based fuzz test of every parser. Every error is one line `negsample: error: ...`, exit 2."""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from negsample import NegsampleError
from negsample.cli import main

CC = shutil.which("cc") or shutil.which("gcc")


def _corpus(tmp_path, n=400, name="c.txt"):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    path = tmp_path / name
    path.write_text("\n".join(" ".join(rng.choice(words, 10)) for _ in range(n)) + "\n")
    return path


def _one_line_error(capsys, needle):
    err = capsys.readouterr().err
    assert needle in err, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith(("negsample: compiling",
                                                                          "negsample: using the numba JIT"))]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("negsample: error: ")
    return lines[0]


# ----------------------------------------------------------------------------- 1 code execution

class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_checkpoint_and_models_do_not_run_code(tmp_path, capsys):
    marker = tmp_path / "pwned"
    corpus = _corpus(tmp_path)
    ck = tmp_path / "ck"
    ck.mkdir()
    evil = np.array([_Payload(str(marker))], dtype=object)
    np.savez(ck / "word2vec-checkpoint.npz", W_in=evil, W_out=evil, counts=evil, words=evil, meta=evil)
    rc = main(["word2vec", "train", str(corpus), "-o", str(tmp_path / "v.bin"), "--min-count", "1",
               "--checkpoint-dir", str(ck), "--resume", "--quiet"])
    assert rc == 2 and not marker.exists()
    _one_line_error(capsys, "holds Python objects (pickle), refused")
    for cmd in (["recsys", "recommend", str(ck / "word2vec-checkpoint.npz"), "u1"],):
        assert main(cmd) == 2 and not marker.exists()
        capsys.readouterr()
    from negsample.word2vec import Word2Vec

    with pytest.raises(NegsampleError, match="not a negsample word2vec-model file"):
        Word2Vec.load(ck / "word2vec-checkpoint.npz")
    assert not marker.exists()


def _child_train(tmp_path, cache, extra_env=None):
    corpus = _corpus(tmp_path, 100, "child.txt")
    code = textwrap.dedent("""
        import json, sys
        from negsample.word2vec import Word2Vec
        m = Word2Vec(dim=8, min_count=1, epochs=1, threads=1).fit(sys.argv[1], progress=False)
        print(json.dumps({"backend": m.stats["kernel_backend"]}))
    """)
    env = {**os.environ, "NEGSAMPLE_CACHE_DIR": str(cache), **(extra_env or {})}
    return subprocess.run([sys.executable, "-c", code, str(corpus)], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.mark.skipif(not (CC and sys.platform.startswith("linux")), reason="needs a C compiler on Linux")
def test_planted_library_in_the_cache_is_never_loaded(tmp_path):
    from negsample.kernels import native

    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    marker = tmp_path / "constructor-ran"
    src = tmp_path / "evil.c"
    src.write_text('#include <stdio.h>\n__attribute__((constructor)) static void run(void) '
                   f'{{ FILE *f = fopen("{marker}", "w"); if (f) fclose(f); }}\n')
    key_path = os.path.join(str(cache), os.path.basename(native.library_path()))
    subprocess.run([CC, "-shared", "-fPIC", "-o", key_path, str(src)], check=True)
    proc = _child_train(tmp_path, cache)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert "no recorded hash" in proc.stderr and json.loads(proc.stdout.splitlines()[-1])["backend"] == "numba-jit"
    # a recorded hash that does not match is refused too
    with open(key_path + ".sha256", "w") as fh:
        fh.write("0" * 64 + "\n")
    proc = _child_train(tmp_path, cache)
    assert not marker.exists() and "does not match its recorded hash" in proc.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux cache checks")
def test_shared_cache_directory_is_refused_or_made_private(tmp_path):
    cache = tmp_path / "shared"
    cache.mkdir()
    os.chmod(cache, 0o777)
    from negsample.kernels import native

    os.environ_backup = dict(os.environ)
    try:
        os.environ["NEGSAMPLE_CACHE_DIR"] = str(cache)
        native.private_cache_dir()
        assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700      # ours: tightened
        if os.geteuid() == 0:
            os.chown(cache, 65534, 65534)
            with pytest.raises(NegsampleError, match="belongs to another user"):
                native.private_cache_dir()
        link = tmp_path / "link"
        link.symlink_to(tmp_path)
        os.environ["NEGSAMPLE_CACHE_DIR"] = str(link)
        with pytest.raises(NegsampleError, match="not a directory"):
            native.private_cache_dir()
    finally:
        os.environ.clear()
        os.environ.update(os.environ_backup)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux cache checks")
def test_lock_file_symlink_is_not_followed(tmp_path):
    from negsample.kernels import native

    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    lib = os.path.join(str(cache), os.path.basename(native.library_path()))
    os.symlink(victim, lib + ".lock")
    proc = _child_train(tmp_path, cache)
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious"
    assert "using the numba JIT kernels" in proc.stderr


# ----------------------------------------------------------------------------- 2 output paths

def test_output_policy(tmp_path, capsys):
    corpus = _corpus(tmp_path)
    base = ["word2vec", "train", str(corpus), "--min-count", "1", "--epochs", "1", "--quiet", "-o"]
    before = corpus.read_bytes()
    assert main(base + ["/dev/null"]) == 2
    _one_line_error(capsys, "/dev/null is a character device; refusing to replace it")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert main(base + [str(fifo)]) == 2
    _one_line_error(capsys, "is a FIFO")
    link = tmp_path / "link.bin"
    link.symlink_to(tmp_path / "target.bin")
    assert main(base + [str(link)]) == 2
    _one_line_error(capsys, "is a symbolic link")
    assert main(base + [str(corpus)]) == 2
    _one_line_error(capsys, "is the input file")
    assert corpus.read_bytes() == before
    t0 = time.perf_counter()
    assert main(base + [str(corpus / "x.bin")]) == 2          # under a regular file
    err = _one_line_error(capsys, "is not a directory")
    assert time.perf_counter() - t0 < 5 and ".tmp" not in err   # refused before training, user's path named
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    if os.geteuid() != 0:
        assert main(base + [str(ro / "v.bin")]) == 2
        _one_line_error(capsys, "is not writable")


def test_output_keeps_umask_modes(tmp_path):
    from negsample.io import atomic_write

    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "a.txt", "w") as fh:
            fh.write("x")
        assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o640
        os.chmod(tmp_path / "a.txt", 0o604)
        with atomic_write(tmp_path / "a.txt", "w") as fh:
            fh.write("y")
        assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o604   # an existing file keeps its mode
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------- 3 numeric blow-ups

def test_word2vec_divergence_stops_with_an_error_and_writes_nothing(tmp_path, capsys):
    corpus = _corpus(tmp_path, 2000)
    out = tmp_path / "v.bin"
    rc = main(["word2vec", "train", str(corpus), "-o", str(out), "--min-count", "1", "--lr", "50", "--epochs", "3",
               "--negative", "15", "--quiet", "--threads", "1"])
    assert rc == 2 and not out.exists()
    _one_line_error(capsys, "training diverged")


def test_text_vectors_with_nan_are_rejected(tmp_path):
    from negsample.vectors import KeyedVectors

    p = tmp_path / "v.txt"
    p.write_text("2 3\na 0.1 0.2 0.3\nb nan 0.1 0.2\n")
    with pytest.raises(NegsampleError, match=r"line 3 \('b'\) has a NaN or infinite value"):
        KeyedVectors.load_word2vec_format(p)


# ----------------------------------------------------------------------------- 4 memory and time bombs

def test_memory_and_time_bombs(tmp_path, capsys):
    from negsample.graph import load_edgelist
    from negsample.vectors import KeyedVectors

    edges = tmp_path / "bomb.tsv"
    edges.write_text("# directed=false nodes=1000000000000 edges=1\n0\t1\n")
    assert edges.stat().st_size < 60
    with pytest.raises(NegsampleError, match="claims 1,000,000,000,000 nodes"):
        load_edgelist(edges)
    vec = tmp_path / "v.bin"
    vec.write_bytes(b"3000000000 300\nabc " + b"\0" * 1200 + b"\n")
    with pytest.raises(NegsampleError, match="claims 3,000,000,000 x 300 vectors|file holds at most"):
        KeyedVectors.load_word2vec_format(vec)
    vec.write_bytes(b"3000000 300\nabc " + b"\0" * 1200 + b"\n")
    with pytest.raises(NegsampleError, match="the file holds at most 1$"):
        KeyedVectors.load_word2vec_format(vec)
    corpus = _corpus(tmp_path)
    t0 = time.perf_counter()
    assert main(["word2vec", "train", str(corpus), "-o", str(tmp_path / "o.bin"), "--min-count", "1",
                 "--negative", "1000000", "--quiet"]) == 2
    _one_line_error(capsys, "negative=1000000 is more than the 30 ids")
    assert time.perf_counter() - t0 < 10


# ----------------------------------------------------------------------------- 5 malformed models

def test_checkpoint_with_disagreeing_shapes_is_a_clear_error(tmp_path, capsys):
    from negsample.io import load_arrays, save_arrays

    corpus = _corpus(tmp_path)
    ck = tmp_path / "ck"
    assert main(["word2vec", "train", str(corpus), "-o", str(tmp_path / "v.bin"), "--min-count", "1", "--epochs", "1",
                 "--dim", "8", "--checkpoint-dir", str(ck), "--quiet"]) == 0
    arrays, strings, meta, _ = load_arrays(ck / "word2vec-checkpoint.npz", "word2vec-checkpoint")
    arrays["W_out"] = arrays["W_out"][:5]                         # fewer rows than the vocabulary
    os.remove(ck / "word2vec-checkpoint.npz")
    save_arrays(ck / "word2vec-checkpoint.npz", "word2vec-checkpoint", arrays, meta, strings)
    assert main(["word2vec", "train", str(corpus), "-o", str(tmp_path / "v.bin"), "--min-count", "1", "--epochs", "2",
                 "--dim", "8", "--checkpoint-dir", str(ck), "--resume", "--quiet"]) == 2
    _one_line_error(capsys, "W_out has shape (5, 8), expected (30, 8)")


# ----------------------------------------------------------------------------- 6 wrong results with exit 0

def test_resume_with_another_corpus_is_refused(tmp_path, capsys):
    corpus = _corpus(tmp_path)
    other = tmp_path / "other.txt"
    other.write_text(corpus.read_text().replace("w1 ", "w2 "))
    ck = tmp_path / "ck"
    args = ["--min-count", "1", "--epochs", "2", "--dim", "8", "--checkpoint-dir", str(ck), "--quiet"]
    assert main(["word2vec", "train", str(corpus), "-o", str(tmp_path / "v.bin")] + args) == 0
    assert main(["word2vec", "train", str(other), "-o", str(tmp_path / "v.bin"), "--resume"] + args) == 2
    _one_line_error(capsys, "was made on a different corpus")


def test_long_token_round_trips_in_binary_vectors(tmp_path):
    from negsample.vectors import KeyedVectors

    words = ["a" * 20_000, "short", "é" * 6000]
    kv = KeyedVectors(words, np.arange(9, dtype=np.float32).reshape(3, 3))
    kv.save_word2vec_format(tmp_path / "v.bin", binary=True)
    back = KeyedVectors.load_word2vec_format(tmp_path / "v.bin")
    assert back.index_to_key == words
    np.testing.assert_array_equal(back.vectors, kv.vectors)


def test_mine_never_returns_a_copy_of_the_positive(tmp_path):
    corpus = ["the positive passage", "another text", "the positive passage", "third", "fourth", "fifth"]
    (tmp_path / "c.txt").write_text("\n".join(corpus) + "\n")
    (tmp_path / "p.tsv").write_text("query\tthe positive passage\n")
    rng = np.random.default_rng(0)
    ce = rng.standard_normal((6, 4)).astype(np.float32)
    ce[2] = ce[0]                     # the duplicate line has the positive's embedding: rank 0
    np.save(tmp_path / "q.npy", ce[:1] + 0.01)
    np.save(tmp_path / "e.npy", ce)
    out = tmp_path / "o.jsonl"
    assert main(["mine", "--pairs", str(tmp_path / "p.tsv"), "--corpus", str(tmp_path / "c.txt"), "-o", str(out),
                 "--embeddings", str(tmp_path / "q.npy"), str(tmp_path / "e.npy"), "--negative", "3",
                 "--relative-margin", "-10", "--quiet"]) == 0
    row = json.loads(out.read_text())
    assert "the positive passage" not in row["negatives"] and len(row["negatives"]) == 3


def test_negative_counts_are_not_python_slices(tmp_path, capsys, shared_data):
    from negsample.vectors import KeyedVectors

    kv = KeyedVectors(["a", "b", "c"], np.eye(3, dtype=np.float32))
    with pytest.raises(NegsampleError, match="restrict_vocab must be a positive integer"):
        kv.most_similar("a", restrict_vocab=-1)
    kv.save_word2vec_format(tmp_path / "v.txt", binary=False)
    assert main(["word2vec", "eval", str(tmp_path / "v.txt"), "--restrict-vocab", "-5"]) == 2
    _one_line_error(capsys, "--restrict-vocab must be >= 1")
    assert main(["word2vec", "query", str(tmp_path / "v.txt"), "a", "--topn", "-2"]) == 2
    _one_line_error(capsys, "--topn must be >= 1")


# ----------------------------------------------------------------------------- 7 one line, not a traceback

def test_one_line_errors_where_tracebacks_were(tmp_path, capsys, shared_data):
    tree = tmp_path / "tree.tsv"
    tree.write_text("0\t1\n1\t2\n2\t3\n")
    assert main(["graph", "linkpred", str(tree)]) == 2
    _one_line_error(capsys, "cannot hold out edges")
    late = tmp_path / "late.tsv"
    late.write_text("a\tb\nb\tc\t2.0\n")
    assert main(["graph", "embed", str(late), "-o", str(tmp_path / "e.vec")]) == 2
    _one_line_error(capsys, "line 2 has a weight but the lines before it do not")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    from negsample.word2vec import Word2Vec

    with pytest.raises(NegsampleError, match="is not a negsample word2vec-model file"):
        Word2Vec.load(junk)
    assert main(["recsys", "recommend", str(junk), "u1"]) == 2
    capsys.readouterr()
    labels = tmp_path / "labels.tsv"
    labels.write_bytes(b"node\tlabel\n0\t\xff\xfe\n")
    vec = tmp_path / "k.vec"
    assert main(["graph", "embed", str(shared_data / "graphs" / "karate.edges.tsv"), "-o", str(vec), "--dim", "4",
                 "--walks-per-node", "2", "--walk-length", "5", "--quiet"]) == 0
    assert main(["graph", "classify", str(vec), str(labels)]) == 2
    _one_line_error(capsys, "is not UTF-8 text")
    assert main(["word2vec", "eval", str(tmp_path / "missing.bin")]) == 2
    _one_line_error(capsys, "vectors file not found")


# ----------------------------------------------------------------------------- 8 leftovers

def test_sigterm_leaves_nothing_behind_and_resume_cleans_up(tmp_path):
    corpus = _corpus(tmp_path, 30_000)
    ck = tmp_path / "ck"
    code = ("import sys\nfrom negsample.cli import main\n"
            "sys.exit(main(['word2vec', 'train', sys.argv[1], '-o', sys.argv[2], '--min-count', '1', '--epochs', '50',"
            " '--dim', '32', '--checkpoint-dir', sys.argv[3], '--quiet', '--threads', '2']))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(corpus), str(tmp_path / "v.bin"), str(ck)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (ck / "word2vec-checkpoint.npz").exists():
        time.sleep(0.2)
    assert (ck / "word2vec-checkpoint.npz").exists(), "training did not reach its first checkpoint"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert sorted(os.listdir(ck)) == ["word2vec-checkpoint.npz"]       # no encoded corpus, no partial files
    assert not (tmp_path / "v.bin").exists()
    # a killed writer's temporary checkpoint is removed when the run resumes
    stale = ck / ".word2vec-checkpoint.npz.abc123.tmp"
    stale.write_bytes(b"partial")
    proc = subprocess.Popen([sys.executable, "-c", code.replace("'50'", "'1'") + "\n", str(corpus),
                             str(tmp_path / "v.bin"), str(ck)], stderr=subprocess.PIPE, text=True)
    proc.wait(timeout=300)
    assert not stale.exists()


def test_kill_9_leaves_no_encoded_corpus(tmp_path):
    corpus = _corpus(tmp_path, 30_000)
    ck = tmp_path / "ck"
    code = ("import sys\nfrom negsample.cli import main\n"
            "main(['word2vec', 'train', sys.argv[1], '-o', sys.argv[2], '--min-count', '1', '--epochs', '50',"
            " '--checkpoint-dir', sys.argv[3], '--quiet'])")
    proc = subprocess.Popen([sys.executable, "-c", code, str(corpus), str(tmp_path / "v.bin"), str(ck)])
    deadline = time.time() + 120
    while time.time() < deadline and not (ck / "word2vec-checkpoint.npz").exists():
        time.sleep(0.2)
    proc.kill()
    proc.wait(timeout=30)
    assert [p for p in os.listdir(ck) if not p.startswith(".word2vec-checkpoint.npz.")] == ["word2vec-checkpoint.npz"]


# ----------------------------------------------------------------------------- fuzz: every parser

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)


def _only_clean_errors(fn):
    try:
        fn()
    except NegsampleError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(header=st.sampled_from([b"", b"2 3", b"1 2", b"99999999999 4", b"3 0", b"x y", b"2 3 4"]),
       body=st.binary(max_size=300))
def test_fuzz_vectors_files(tmp_path, header, body):
    from negsample.vectors import KeyedVectors

    p = tmp_path / "v.bin"
    p.write_bytes(header + b"\n" + body)
    for binary in (None, True, False):
        _only_clean_errors(lambda: KeyedVectors.load_word2vec_format(p, binary=binary))


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("0123 \t,#\nab.-e=directednodes")), max_size=200))
def test_fuzz_edge_lists(tmp_path, text):
    from negsample.graph import load_edgelist

    p = tmp_path / "e.tsv"
    p.write_text(text)
    _only_clean_errors(lambda: load_edgelist(p))


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("uitem01234 \t,\n.-xyzé")), max_size=200))
def test_fuzz_interactions(tmp_path, text):
    from negsample.recsys import load_interactions

    p = tmp_path / "i.tsv"
    p.write_text(text)
    _only_clean_errors(lambda: load_interactions(p))


@pytest.fixture(scope="module")
def valid_archives(tmp_path_factory):
    from negsample.word2vec import Word2Vec

    d = tmp_path_factory.mktemp("archives")
    sents = [["a", "b", "c", "d"], ["b", "c", "d", "a"]] * 20
    m = Word2Vec(dim=4, min_count=1, epochs=1, threads=1).fit(sents, checkpoint_dir=str(d), progress=False)
    m.save(d / "model.npz")
    return [(d / "model.npz").read_bytes(), (d / "word2vec-checkpoint.npz").read_bytes()]


@FUZZ
@given(which=st.integers(0, 1), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_fuzz_models_and_checkpoints(tmp_path, valid_archives, which, flips, cut):
    from negsample.io import load_arrays
    from negsample.recsys import ImplicitModel
    from negsample.word2vec import Word2Vec

    data = bytearray(valid_archives[which])
    for pos, val in flips:
        data[pos % len(data)] = val
    if cut is not None:
        data = data[:cut % (len(data) + 1)]
    p = tmp_path / "m.npz"
    p.write_bytes(bytes(data))
    _only_clean_errors(lambda: Word2Vec.load(p))
    _only_clean_errors(lambda: load_arrays(p, "word2vec-checkpoint"))
    _only_clean_errors(lambda: ImplicitModel.load(p))
