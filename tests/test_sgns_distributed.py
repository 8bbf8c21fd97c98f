"""word2vec across processes (negsample.sgns_distributed): gloo process groups of 2 forked
processes on a planted corpus. Shards cover every line once, the merged vocabulary equals
build_vocab's, both ranks end with the same weights and only rank 0 writes, quality matches one
process, the sync volume is reported and exact, resume continues bit for bit, a dead or missing
peer and a diverging rank give errors instead of hangs."""
import bz2
import json
import os
import socket
import time
import traceback

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402

from negsample import NegsampleError  # noqa: E402
from negsample import sgns_distributed as sd  # noqa: E402
from negsample.cli import main  # noqa: E402
from negsample.word2vec import Word2Vec, build_vocab  # noqa: E402

START_METHOD = os.environ.get("NEGSAMPLE_TEST_START_METHOD", "fork" if hasattr(os, "fork") else "spawn")
TOPICS = 4
PER_TOPIC = 12


def planted(n_sentences=1500, seed=0):
    """TOPICS topics of PER_TOPIC words; each sentence draws 8 words from one topic, so words of a
    topic share contexts and never meet the other topics' words."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_sentences):
        t = int(rng.integers(TOPICS))
        lines.append(" ".join(f"t{t}w{int(i)}" for i in rng.integers(PER_TOPIC, size=8)))
    return lines


def write(path, lines, newline_at_end=True):
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    path.write_text(text, encoding="utf-8")
    return str(path)


def topic_quality(words, W):
    """(nearest-neighbour topic accuracy, mean within-topic cosine - mean between-topic cosine)."""
    X = W / np.linalg.norm(W, axis=1, keepdims=True)
    S = X @ X.T
    topic = np.array([int(w[1:w.index("w")]) for w in words])
    same = topic[:, None] == topic[None, :]
    np.fill_diagonal(S, -np.inf)
    nn_acc = float(np.mean(topic[np.argmax(S, axis=1)] == topic))
    off = ~np.eye(len(words), dtype=bool)
    return nn_acc, float(S[same & off].mean() - S[~same].mean())


SETTINGS = dict(dim=16, window=3, negative=5, sample=0.0, min_count=1, epochs=3, threads=1, seed=3)


# ----------------------------------------------------------------------------- launching

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, world, port, out_dir, target, kwargs):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    res = {"rank": rank}
    t0 = time.monotonic()
    try:
        res.update(target(rank, out_dir, **kwargs) or {})
    except BaseException as exc:  # noqa: BLE001 - recorded for the parent
        res["error"] = f"{type(exc).__name__}: {exc}"
        res["traceback"] = traceback.format_exc()
    finally:
        res["seconds"] = time.monotonic() - t0
        sd.shutdown()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
        json.dump(res, fh)


def launch(target, tmp_path, world=2, deadline=90, **kwargs):
    """Run target(rank, out_dir, **kwargs) in `world` forked processes joined by env:// on a free
    port; returns each rank's result dict (with "error" when it raised; None when it died)."""
    import multiprocessing

    out_dir = tmp_path / f"run-{time.monotonic_ns()}"
    out_dir.mkdir()
    mp = multiprocessing.get_context(START_METHOD)
    port = _free_port()
    procs = [mp.Process(target=_entry, args=(r, world, port, str(out_dir), target, kwargs)) for r in range(world)]
    for p in procs:
        p.start()
    end = time.monotonic() + deadline
    for p in procs:
        p.join(max(0.0, end - time.monotonic()))
    if any(p.is_alive() for p in procs):
        for p in procs:
            p.kill()
        pytest.fail(f"distributed workers did not finish within {deadline} s")
    files = [out_dir / f"rank{r}.json" for r in range(world)]
    return [json.loads(f.read_text()) if f.exists() else None for f in files]


@pytest.fixture(scope="module", autouse=True)
def kernels_loaded():
    """Build / load the native kernels once in the parent, so forked workers start warm."""
    Word2Vec(min_count=1, epochs=1, threads=1, dim=8).fit([["warm", "up"]] * 10, progress=False)


def train(rank, out_dir, corpus, settings, sync=None, checkpoint_dir=None, resume=False, stop_after=None,
          vocab_check=False):
    callbacks = []
    if stop_after is not None:
        def stop(model, epoch, loss):
            if epoch + 1 == stop_after:
                raise KeyboardInterrupt("stopped on purpose")
        callbacks.append(stop)
    model = Word2Vec(callbacks=callbacks, **settings)
    sd.fit_distributed(model, corpus, checkpoint_dir=checkpoint_dir, resume=resume, progress=False,
                       timeout=30, **(sync or {}))
    np.save(os.path.join(out_dir, f"W_in{rank}.npy"), model.W_in)
    np.save(os.path.join(out_dir, f"W_out{rank}.npy"), model.W_out)
    res = {"words": model.vocab.words, "stats": {k: model.stats[k] for k in ("sync", "distributed", "start_epoch",
                                                                                "epochs_run", "raw_words",
                                                                                "corpus_lines", "words_per_sec")}}
    if vocab_check:
        res["counts"] = model.vocab.counts.tolist()
    return res


def _ok(results):
    for r in results:
        assert "error" not in r, r.get("traceback")


def _run_dir(tmp_path):
    return max((p for p in tmp_path.iterdir() if p.name.startswith("run-")), key=lambda p: p.name)


# ----------------------------------------------------------------------------- shards (no process group)

@pytest.mark.parametrize("world", [1, 2, 3, 7])
def test_byte_shards_hold_every_line_once(tmp_path, world):
    rng = np.random.default_rng(world)
    lines = [" ".join("x" * int(rng.integers(1, 9)) for _ in range(int(rng.integers(0, 6)))) for _ in range(200)]
    a = write(tmp_path / "a.txt", lines[:120])
    b = write(tmp_path / "b.txt", lines[120:], newline_at_end=False)      # last line without "\n"
    files = sd.corpus_files([a, b])
    shards = [list(sd.ShardReader(files, sd.shard_plan(files, world, r))) for r in range(world)]
    got = [ln.rstrip("\n") for shard in shards for ln in shard]
    assert got == lines                                    # in order, each line exactly once
    sizes = [sum(len(ln.encode()) for ln in s) for s in shards]
    assert max(sizes) - min(sizes) <= 2 * max(len(ln) + 1 for ln in lines)    # balanced to a line


def test_compressed_shards_take_every_world_th_line(tmp_path):
    lines = [f"line {i}" for i in range(50)]
    path = tmp_path / "c.txt.bz2"
    with bz2.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    files = sd.corpus_files(str(path))
    plan = sd.shard_plan(files, 3, 1)
    assert plan["mode"] == "lines"
    assert [ln.strip() for ln in sd.ShardReader(files, plan)] == lines[1::3]


def test_directory_corpus_and_bad_input(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    write(d / "b.txt", ["two"])
    write(d / "a.txt", ["one"])
    (d / ".hidden").write_text("no\n")
    assert [os.path.basename(f) for f in sd.corpus_files(str(d))] == ["a.txt", "b.txt"]
    with pytest.raises(NegsampleError, match="not found"):
        sd.corpus_files(str(tmp_path / "missing.txt"))
    with pytest.raises(NegsampleError, match="reads files"):
        sd.corpus_files([["a", "sentence"]])


# ----------------------------------------------------------------------------- 2 processes

def test_two_processes_agree_match_one_process_and_report_sync_volume(tmp_path):
    corpus = write(tmp_path / "planted.txt", planted())
    sync = dict(sync_words=1500, hot_words=8)
    res = launch(train, tmp_path, corpus=corpus, settings=SETTINGS, sync=sync, vocab_check=True)
    _ok(res)
    run = _run_dir(tmp_path)
    W0, W1 = (np.load(run / f"W_in{r}.npy") for r in range(2))
    assert np.array_equal(W0, W1)                                            # one model on both ranks
    assert np.array_equal(np.load(run / "W_out0.npy"), np.load(run / "W_out1.npy"))
    # the merged vocabulary is the one-process vocabulary (same order, counts, totals)
    ref = build_vocab(corpus, min_count=1)
    assert res[0]["words"] == res[1]["words"] == ref.words and res[0]["counts"] == ref.counts.tolist()
    assert res[0]["stats"]["raw_words"] == ref.raw_words and res[0]["stats"]["corpus_lines"] == ref.lines
    # quality: the planted topics separate as well as in one process on the whole corpus
    single = Word2Vec(**SETTINGS).fit(corpus, progress=False)
    acc1, sep1 = topic_quality(single.vocab.words, single.W_in)
    acc2, sep2 = topic_quality(res[0]["words"], W0)
    assert acc1 == 1.0 and acc2 == 1.0
    assert sep2 > 0.85 * sep1 and sep2 > 0.3, (sep1, sep2)
    # sync volume: points from the larger shard, rows by the doubling schedule, both matrices
    st = res[0]["stats"]
    s, d = st["sync"], st["distributed"]
    V, dim = len(ref.words), SETTINGS["dim"]
    n = -(-max(d["shard_tokens"]) // sync["sync_words"])
    assert s["points_per_epoch"] == n >= 4 and res[1]["stats"]["sync"]["points_per_epoch"] == n
    rows = [min(V, 8 << ((g + 1) & -(g + 1)).bit_length() - 1) for g in range(n - 1)] + [V]
    assert s["bytes_merged_per_epoch"] == sum(rows) * dim * 4 * 2
    assert s["syncs"] == n * SETTINGS["epochs"] and s["bytes_merged"] == SETTINGS["epochs"] * s["bytes_merged_per_epoch"]
    assert 0 <= s["sync_share"] < 1 and s["collective_seconds"] > 0
    assert sum(d["shard_tokens"]) == int(ref.counts.sum()) and d["world_size"] == 2


def test_averaging_merge_with_threads_also_agrees(tmp_path):
    corpus = write(tmp_path / "planted.txt", planted(800))
    res = launch(train, tmp_path, corpus=corpus, settings=dict(SETTINGS, epochs=2, threads=2),
                 sync=dict(sync_words=1000, hot_words=8, merge="average"))
    _ok(res)
    run = _run_dir(tmp_path)
    W0, W1 = (np.load(run / f"W_in{r}.npy") for r in range(2))
    assert np.array_equal(W0, W1) and res[0]["stats"]["sync"]["merge"] == "average"
    assert topic_quality(res[0]["words"], W0)[0] == 1.0


def test_one_process_equals_the_ordinary_trainer(tmp_path):
    corpus = write(tmp_path / "planted.txt", planted(600))
    res = launch(train, tmp_path, world=1, corpus=corpus, settings=dict(SETTINGS, epochs=2))
    _ok(res)
    single = Word2Vec(**dict(SETTINGS, epochs=2)).fit(corpus, progress=False)
    assert np.array_equal(np.load(_run_dir(tmp_path) / "W_in0.npy"), single.W_in)


def test_resume_continues_bit_for_bit(tmp_path):
    corpus = write(tmp_path / "planted.txt", planted(800))
    settings = dict(SETTINGS, epochs=2)
    sync = dict(sync_words=1000, hot_words=8)
    full = launch(train, tmp_path, corpus=corpus, settings=settings, sync=sync)
    _ok(full)
    W_full = np.load(_run_dir(tmp_path) / "W_in0.npy")
    ckpt = str(tmp_path / "ckpt")
    stopped = launch(train, tmp_path, corpus=corpus, settings=settings, sync=sync, checkpoint_dir=ckpt, stop_after=1)
    assert all("stopped on purpose" in r.get("error", "") for r in stopped)
    assert os.listdir(ckpt) == ["word2vec-checkpoint.npz"]                 # rank 0 wrote it, no leftovers
    resumed = launch(train, tmp_path, corpus=corpus, settings=settings, sync=sync, checkpoint_dir=ckpt, resume=True)
    _ok(resumed)
    assert [r["stats"]["start_epoch"] for r in resumed] == [1, 1]
    assert [r["stats"]["epochs_run"] for r in resumed] == [1, 1]
    W_resumed = np.load(_run_dir(tmp_path) / "W_in0.npy")
    assert np.array_equal(W_resumed, W_full)


def _dies(rank, out_dir, corpus):
    def crash(model, epoch, loss):
        if rank == 1:
            os._exit(3)                  # a peer that crashes in the middle of training
    model = Word2Vec(callbacks=[crash], **SETTINGS)
    sd.fit_distributed(model, corpus, progress=False, timeout=20, sync_words=500)


def test_dead_peer_is_an_error_not_a_hang(tmp_path):
    corpus = write(tmp_path / "planted.txt", planted(300))
    res = launch(_dies, tmp_path, corpus=corpus, deadline=60)
    assert res[1] is None                                      # rank 1 died
    err = res[0].get("error", "")
    assert err.startswith("NegsampleError: distributed training stopped") and "peer" in err, res[0]
    assert res[0]["seconds"] < 15                              # noticed at once, not after the 20 s timeout


def _alone(rank, out_dir, corpus):
    os.environ["WORLD_SIZE"] = "2"       # rank 0 waits for a rank 1 that never starts
    model = Word2Vec(**SETTINGS)
    sd.fit_distributed(model, corpus, progress=False, timeout=3)


def test_missing_peer_times_out_with_an_error(tmp_path):
    corpus = write(tmp_path / "planted.txt", planted(100))
    res = launch(_alone, tmp_path, world=1, corpus=corpus, deadline=60)
    err = res[0].get("error", "")
    assert err.startswith("NegsampleError") and "cannot join the process group" in err, res[0]
    assert res[0]["seconds"] < 30


def test_divergence_on_every_rank_is_one_error(tmp_path):
    corpus = write(tmp_path / "planted.txt", planted(800))
    res = launch(train, tmp_path, corpus=corpus, settings=dict(SETTINGS, lr=50.0, negative=15),
                 sync=dict(sync_words=500))
    for r in res:
        assert r.get("error", "").startswith("NegsampleError: training diverged"), r


# ----------------------------------------------------------------------------- CLI

def _cli(rank, out_dir, argv):
    return {"rc": main(argv)}


def test_cli_distributed_writes_one_output_on_rank_0(tmp_path, capsys):
    corpus = write(tmp_path / "planted.txt", planted(600))
    out = tmp_path / "out" / "v.txt"
    out.parent.mkdir()
    argv = ["word2vec", "train", corpus, "-o", str(out), "--format", "text", "--distributed", "--min-count", "1",
            "--dim", "8", "--epochs", "1", "--threads", "1", "--sync-words", "1000", "--hot-words", "4",
            "--quiet", "--dist-timeout", "30"]
    res = launch(_cli, tmp_path, argv=argv)
    _ok(res)
    assert [r["rc"] for r in res] == [0, 0]
    assert os.listdir(out.parent) == ["v.txt"]
    header = out.read_text().splitlines()[0].split()
    assert header == [str(TOPICS * PER_TOPIC), "8"]


def test_cli_distributed_needs_torchrun_and_flags_need_distributed(tmp_path, capsys, monkeypatch):
    corpus = write(tmp_path / "planted.txt", planted(50))
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    assert not dist.is_initialized()
    rc = main(["word2vec", "train", corpus, "-o", str(tmp_path / "v.bin"), "--distributed", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "runs under torchrun" in err and err.count("\n") == 1
    rc = main(["word2vec", "train", corpus, "-o", str(tmp_path / "v.bin"), "--sync-words", "10", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "--sync-words needs --distributed" in err
    assert not (tmp_path / "v.bin").exists()
