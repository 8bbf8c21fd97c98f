"""The native kernel library: same results as the numba JIT, no numba in a training process,
clear errors and a working fallback when it cannot be built."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from negsample import NegsampleError
from negsample.kernels import native, sgns
from negsample.kernels.alias import build_alias_kernel
from negsample.samplers import unfiltered

NF = unfiltered()

CAN_BUILD = sys.platform.startswith("linux") and (shutil.which("cc") or shutil.which("gcc"))
needs_native = pytest.mark.skipif(not CAN_BUILD, reason="native kernels need Linux and a C compiler (cc/gcc)")


def _problem(seed=0, V=300, d=32, n_tokens=40_000, sentence=37):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, n_tokens).astype(np.int32)
    offsets = np.append(np.arange(0, n_tokens, sentence), n_tokens).astype(np.int64)
    keep = rng.uniform(0.2, 1.0, V).astype(np.float32)
    weights = rng.random(V) ** 3
    prob, alias = build_alias_kernel(weights / weights.sum())
    W_in = (rng.random((V, d), dtype=np.float32) - 0.5) / d
    return ids, offsets, keep, prob, alias, W_in


def _run(kernel, ids, offsets, keep, prob, alias, W_in0, **kw):
    W_in, W_out, st = W_in0.copy(), np.zeros_like(W_in0), np.zeros(11)
    state = kernel(W_in, W_out, ids, offsets, 0, len(offsets) - 1, keep, prob, alias, NF, 5, 5,
                   0.025, 11, st, **kw)
    return W_in, W_out, st, state


@needs_native
@pytest.mark.parametrize("kind,arch", [("shared", "skipgram"), ("per-example", "skipgram"), ("shared", "cbow")])
def test_native_kernels_match_the_jit_bit_for_bit(kind, arch):
    assert native.backend() == "native", native.reason()
    args = _problem()
    jit = sgns.cbow if arch == "cbow" else sgns.sgns_shared if kind == "shared" else sgns.sgns_per_example
    a = _run(native.sgns_kernel(kind, arch), *args)
    b = _run(jit, *args)
    assert a[2][0] > 20_000 and a[3] == b[3]           # same pairs/centres and final RNG state
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert np.abs(a[1]).max() > 0                        # it did train


@needs_native
def test_native_shared_honours_max_batch():
    args = _problem(seed=3)
    a = _run(native.sgns_shared, *args, max_batch=3)
    b = _run(sgns.sgns_shared, *args, max_batch=3)
    c = _run(native.sgns_shared, *args)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # the target rows are snapshotted once per window, so batching the contexts changes nothing
    np.testing.assert_array_equal(a[0], c[0])


@needs_native
def test_native_alias_build_matches_the_jit():
    rng = np.random.default_rng(5)
    for w in (rng.random(1000), np.r_[np.zeros(10), rng.random(50) ** 8], np.ones(7)):
        p = w / w.sum()
        pa, aa = native.build_alias(p)
        pb, ab = build_alias_kernel(p)
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(aa, ab)


@needs_native
def test_native_rejects_bad_arrays_with_a_clear_error():
    ids, offsets, keep, prob, alias, W_in = _problem(V=50, n_tokens=500)
    W_out, st = np.zeros_like(W_in), np.zeros(11)
    with pytest.raises(NegsampleError, match="W_in must be a writeable C-contiguous float32"):
        native.sgns_shared(W_in.astype(np.float64), W_out, ids, offsets, 0, 1, keep, prob, alias, NF, 5, 5, 0.025, 1, st)
    with pytest.raises(NegsampleError, match="W_out has V = 10, other arguments have 50"):
        native.sgns_shared(W_in, W_out[:10], ids, offsets, 0, 1, keep, prob, alias, NF, 5, 5, 0.025, 1, st)
    with pytest.raises(NegsampleError, match="keep has 49 entries"):
        native.sgns_per_example(W_in, W_out, ids, offsets, 0, 1, keep[:-1], prob, alias, NF, 5, 5, 0.025, 1, st)
    with pytest.raises(NegsampleError, match="outside the"):
        native.sgns_shared(W_in, W_out, ids, offsets, 0, len(offsets), keep, prob, alias, NF, 5, 5, 0.025, 1, st)
    bad = offsets.copy()
    bad[-1] = len(ids) + 5
    with pytest.raises(NegsampleError, match="offsets"):
        native.sgns_shared(W_in, W_out, ids, bad, 0, len(bad) - 1, keep, prob, alias, NF, 5, 5, 0.025, 1, st)
    bad_ids = ids.copy()
    bad_ids[3] = 50                       # would index past the weights: refused before the call
    with pytest.raises(NegsampleError, match=r"token ids must lie in \[0, 50\)"):
        native.sgns_shared(W_in, W_out, bad_ids, offsets, 0, 1, keep, prob, alias, NF, 5, 5, 0.025, 1, st)
    with pytest.raises(NegsampleError, match="noise table"):
        native.sgns_shared(W_in, W_out, ids, offsets, 0, 1, keep, np.r_[prob, prob], np.r_[alias, alias],
                           NF, 5, 5, 0.025, 1, st)


_TRAIN = textwrap.dedent("""
    import json, sys
    from negsample.word2vec import Word2Vec
    m = Word2Vec(dim=16, window=3, negative=3, min_count=1, epochs=1, threads=2, seed=1)
    m.fit(sys.argv[1], progress=False)
    print(json.dumps({"numba": "numba" in sys.modules, "llvmlite": "llvmlite" in sys.modules,
                      "backend": m.stats["kernel_backend"], "vocab": len(m.vocab.words)}))
""")


def _train_in_child(tmp_path, **env):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(" ".join(f"w{(i * 7 + j) % 40}" for j in range(12)) for i in range(300)))
    proc = subprocess.run([sys.executable, "-c", _TRAIN, str(corpus)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)
    return proc


@needs_native
def test_training_process_never_loads_numba(tmp_path):
    proc = _train_in_child(tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"numba": False, "llvmlite": False, "backend": "native", "vocab": 40}


def test_jit_fallback_when_the_library_cannot_be_built(tmp_path):
    env = {"NEGSAMPLE_CACHE_DIR": str(tmp_path / "cache"), "CC": "/bin/false"}
    proc = _train_in_child(tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == "numba-jit" and out["numba"] is True
    assert "using the numba JIT kernels" in proc.stderr
    assert not any(p.suffix == ".so" for p in (tmp_path / "cache").glob("*"))   # nothing half-written

    proc = _train_in_child(tmp_path, NEGSAMPLE_KERNELS="native", **env)
    assert proc.returncode != 0
    assert "NEGSAMPLE_KERNELS=native but the native kernels are unavailable" in proc.stderr
    assert "linking the native kernels failed" in proc.stderr


def test_forced_jit_and_bad_mode(tmp_path):
    proc = _train_in_child(tmp_path, NEGSAMPLE_KERNELS="jit")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["backend"] == "numba-jit"
    proc = _train_in_child(tmp_path, NEGSAMPLE_KERNELS="fast")
    assert proc.returncode != 0 and "NEGSAMPLE_KERNELS must be auto, native or jit" in proc.stderr


@needs_native
def test_build_writes_a_fresh_library_atomically(tmp_path):
    path = tmp_path / "lib" / "k.so"
    proc = subprocess.run([sys.executable, "-m", "negsample.kernels.native", "build", str(path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert path.exists() and path.stat().st_size > 10_000
    assert sorted(p.name for p in path.parent.iterdir()) == ["k.so", "k.so.sha256"]   # no temporaries left


@needs_native
def test_cli_train_process_never_loads_numba(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(" ".join(f"w{(i * 5 + j) % 30}" for j in range(10)) for i in range(200)))
    code = textwrap.dedent("""
        import sys
        from negsample.cli import main
        rc = main(["word2vec", "train", sys.argv[1], "-o", sys.argv[2], "--dim", "8", "--min-count", "1",
                   "--epochs", "1", "--json"])
        print("NUMBA", "numba" in sys.modules, "GRAPH", "negsample.graph" in sys.modules, "RC", rc)
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(corpus), str(tmp_path / "v.bin")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert json.loads(lines[-2])["kernel_backend"] == "native"
    assert lines[-1] == "NUMBA False GRAPH False RC 0"


def test_kernels_cli_info(capsys):
    from negsample.cli import main

    assert main(["kernels", "info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("backend ") and "kernels-" in out
