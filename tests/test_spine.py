"""The spine: every trainer draws through the noise core and accepts a NegativeSampler; word2vec
with a custom noise file, mixed noise, a time window and labels; one CLI convention; no pickle."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from negsample import NegsampleError
from negsample.cli import APPLICATIONS, build_parser, main
from negsample.samplers import NegativeSampler
from negsample.sgns import train_sgns

ROOT = Path(__file__).resolve().parents[1]


def _two_word_corpus(reps=200):
    ids = np.tile(np.array([0, 1], np.int32), reps)
    offsets = np.arange(0, ids.size + 1, 2, dtype=np.int64)
    return ids, offsets


@pytest.mark.parametrize("mode", ["shared", "per-example"])
def test_label_filter_keeps_same_label_rows_untouched(mode):
    """Only words 0 and 1 occur; noise is uniform over 6 words. Words 0-3 share a label, so with the
    label filter the negatives of centres 0 and 1 can only be 4 or 5: W_out rows 2 and 3 (zero at
    the start) never change. Without the filter they do."""
    ids, offsets = _two_word_corpus()
    counts = np.ones(6)
    labels = ["a", "a", "a", "a", "b", "b"]
    s = NegativeSampler(negative=3, noise="uniform", mode=mode, labels=labels, max_redraw=50)
    _, W_out, st = train_sgns(ids, offsets, counts, dim=8, window=1, negatives=s, epochs=2, threads=1, seed=3)
    assert np.all(W_out[2:4] == 0) and np.any(W_out[4:] != 0)
    assert st["filter"]["label"] > 0 and s.stats_.by_reason["label"] == st["filter"]["label"]
    _, W_out0, _ = train_sgns(ids, offsets, counts, dim=8, window=1, negative=3, ns_exponent=0.0,
                              negatives=mode, epochs=2, threads=1, seed=3)
    assert np.any(W_out0[2:4] != 0)


def test_time_window_and_known_positive_filters_in_the_engine():
    ids, offsets = _two_word_corpus()
    times = np.array([0.0, 0.0, 1.0, 50.0, 100.0, np.nan])   # word 5 has no time: never time-filtered
    s = NegativeSampler(negative=2, noise="uniform", times=times, time_window=10.0, max_redraw=50)
    _, W_out, st = train_sgns(ids, offsets, np.ones(6), dim=8, window=1, negatives=s, epochs=1, threads=1)
    assert np.all(W_out[2] == 0) and np.any(W_out[3] != 0) and np.any(W_out[5] != 0)
    assert st["filter"]["time"] > 0
    # known positives of words 0 and 1: {4}; then row 4 is never a negative of them
    s = NegativeSampler(negative=2, noise="uniform", known_positives=[[4], [4], [], [], [], []], max_redraw=50)
    _, W_out, st = train_sgns(ids, offsets, np.ones(6), dim=8, window=1, negatives=s, epochs=1, threads=1)
    assert np.all(W_out[4] == 0) and st["filter"]["known"] > 0


def test_custom_and_mixed_noise_through_the_engine():
    ids, offsets = _two_word_corpus()
    # all noise mass on word 5: only rows 0, 1 (centres) and 5 move
    s = NegativeSampler(negative=2, noise=np.array([0, 0, 0, 0, 0, 1.0]))
    _, W_out, _ = train_sgns(ids, offsets, np.ones(6), dim=8, window=1, negatives=s, epochs=1, threads=1)
    assert np.all(W_out[2:5] == 0) and np.any(W_out[5] != 0)
    mix = NegativeSampler(noise=[(0.5, np.array([0, 0, 0, 0, 0, 1.0])), (0.5, "uniform")]).fit(np.ones(6))
    np.testing.assert_allclose(mix.table_.probabilities, [1 / 12] * 5 + [0.5 + 1 / 12])


def _corpus_file(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(20)]
    lines = [" ".join(rng.choice(words, 8)) for _ in range(400)]
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_word2vec_cli_custom_noise_file_mix_and_time_window(tmp_path, capsys):
    corpus = _corpus_file(tmp_path)
    weights = tmp_path / "noise.tsv"
    weights.write_text("w3\t1.0\nw7\t3.0\nnot_a_word\t5\n")
    out = tmp_path / "v.bin"
    base = ["word2vec", "train", str(corpus), "-o", str(out), "--dim", "8", "--min-count", "1", "--epochs", "1",
            "--threads", "1", "--json", "--quiet"]
    assert main(base + ["--noise-weights", str(weights)]) == 0
    from negsample.cli.word2vec import sampler_from_args
    from negsample.word2vec import build_vocab

    vocab = build_vocab(str(corpus), min_count=1)
    args = build_parser("word2vec").parse_args(base + ["--noise-weights", str(weights)])
    q = sampler_from_args(args).fit(vocab.counts, keys=vocab.words).table_.probabilities
    expected = np.zeros(len(vocab))
    expected[vocab.index["w3"]], expected[vocab.index["w7"]] = 0.25, 0.75
    np.testing.assert_allclose(q, expected)
    args = build_parser("word2vec").parse_args(base + ["--noise-weights", str(weights), "--noise-mix", "0.5"])
    q = sampler_from_args(args).fit(vocab.counts, keys=vocab.words).table_.probabilities
    assert np.all(q > 0) and q[vocab.index["w7"]] > 0.375
    capsys.readouterr()
    times = tmp_path / "times.tsv"
    times.write_text("".join(f"w{i}\t{i}\n" for i in range(20)))
    assert main(base + ["--word-times", str(times), "--time-window", "3"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["filter"]["time"] > 0 and summary["filter"]["label"] == 0
    labels = tmp_path / "labels.tsv"
    labels.write_text("".join(f"w{i}\t{i % 2}\n" for i in range(20)))
    assert main(base + ["--word-labels", str(labels), "--negatives", "per-example"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["filter"]["label"] > 0
    assert main(base + ["--noise-mix", "0.3"]) == 2
    assert "--noise-mix needs --noise-weights" in capsys.readouterr().err


def test_every_trainer_accepts_a_sampler():
    import inspect

    from negsample import graph, mining, recsys, word2vec

    for fn in (word2vec.Word2Vec.__init__, graph.embed, recsys.ImplicitModel.__init__, mining.mine_negatives):
        assert "negatives" in inspect.signature(fn).parameters, fn
    with pytest.raises(NegsampleError, match="negatives must be one of"):
        word2vec.Word2Vec(negatives="hardest")


# ----------------------------------------------------------------------------- CLI convention

def _all_parsers():
    parser = build_parser()
    out = []

    def walk(p, name):
        out.append((name, p))
        for action in p._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}")

    walk(parser, "negsample")
    return out


def test_every_option_has_help_and_shows_its_default():
    seen = set()
    for name, p in _all_parsers():
        seen.add(name.split()[1] if " " in name else name)
        text = p.format_help()
        body = text[text.index("options:"):] if "options:" in text else text
        for action in p._actions:
            if action.__class__.__name__ in ("_HelpAction", "_VersionAction", "_SubParsersAction"):
                continue
            assert action.help, f"{name}: {action.dest} has no help line"
            if action.option_strings and action.default not in (None, False) and action.nargs != 0:
                flag = action.option_strings[-1]
                m = re.search(r"\n  (?:-[^\s,]+(?: [^\s,]+)?, )?" + re.escape(flag) + r"(?=[\s=])", body)
                assert m, f"{name} {flag} not listed"
                block = body[m.start() + 1:]
                nxt = re.search(r"\n  -", block[1:])
                block = block[:nxt.start() + 1] if nxt else block
                assert "default" in " ".join(block.split()), f"{name} {flag}: default not shown"
    assert {"word2vec", "graph", "recsys", "mine", "demo", "kernels"} <= seen


def test_shared_option_names():
    for name, p in _all_parsers():
        opts = {s for a in p._actions for s in a.option_strings}
        assert not opts & {"--k", "--out", "--n-negatives", "--sgns-negatives", "--shared"}, (name, opts)
        if {"--epochs"} <= opts:   # a trainer
            assert {"--seed", "--json", "--quiet"} <= opts, name
            assert "--output" in opts or name.endswith("linkpred"), name


def test_python_dash_m_and_broken_pipe(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "negsample", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("negsample ")
    # a reader that stops early: no traceback
    code = ("import sys\nfrom negsample.cli import main\nsys.exit(main(['word2vec', 'eval', sys.argv[1]]))")
    vec = tmp_path / "v.txt"
    words = [w.split()[0] for w in open(ROOT / "src/negsample/data/questions-words.txt") if not w.startswith(":")][:3000]
    rng = np.random.default_rng(0)
    vec.write_text(f"{len(set(words))} 4\n" + "".join(f"{w} " + " ".join(f"{x:.3f}" for x in rng.random(4)) + "\n"
                                                        for w in dict.fromkeys(words)))
    proc = subprocess.run(f"{sys.executable} -c \"{code}\" {vec} | head -1", shell=True, capture_output=True,
                          text=True, timeout=300)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith("analogies")


def test_missing_optional_dependency_is_one_line(tmp_path, capsys, monkeypatch, shared_data):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    rc = main(["graph", "linkpred", str(shared_data / "graphs" / "karate.edges.tsv")])
    err = capsys.readouterr().err
    assert rc == 2 and "pip install 'negsample[sklearn]'" in err and len(err.strip().splitlines()) == 1


def test_json_output_is_strict(tmp_path, capsys):
    from negsample.cli._options import to_json

    assert to_json({"a": float("nan"), "b": [np.float32(1.5), float("inf")], "c": np.arange(2)}) == \
        '{"a": null, "b": [1.5, null], "c": [0, 1]}'
    corpus = _corpus_file(tmp_path)
    assert main(["word2vec", "train", str(corpus), "-o", str(tmp_path / "v.bin"), "--dim", "4", "--min-count", "1",
                 "--epochs", "1", "--json", "--quiet"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def test_no_pickle_anywhere_in_the_source():
    offenders = []
    for path in (ROOT / "src").rglob("*.py"):
        text = path.read_text()
        if re.search(r"allow_pickle\s*=\s*True", text) or re.search(r"^\s*import pickle|pickle\.load", text, re.M):
            offenders.append(str(path))
    assert offenders == []


def test_every_application_module_exists():
    import importlib

    for name, module in APPLICATIONS.items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module and name in ("kg", "hierarchy", "diagnose"):
                continue   # applications still being built on other branches
            raise


def test_adaptive_negatives_in_the_sgns_engine():
    """Dynamic negatives score higher than plain draws (they are the top of M candidates), the
    self-adversarial weights' entropy is below the uniform ln k, and the filters still hold:
    with the label filter, same-label rows stay untouched even when chosen by score."""
    from negsample.kernels.sgns_adaptive import sgns_adaptive  # noqa: F401  (JIT compiles here)

    rng = np.random.default_rng(0)
    walks = [rng.integers(0, 10, 12) if i % 2 else rng.integers(10, 20, 12) for i in range(300)]
    ids = np.concatenate(walks).astype(np.int32)
    offsets = np.arange(0, ids.size + 1, 12)
    counts = np.bincount(ids, minlength=20).astype(float)
    runs = {}
    for name, kw in (("plain", {}), ("dns", {"candidates": 20}), ("adv", {"adversarial_temperature": 2.0})):
        s = NegativeSampler(negative=3, mode="per-example", **kw)
        _, _, st = train_sgns(ids, offsets, counts, dim=8, window=2, negatives=s, epochs=2, threads=1, seed=1)
        runs[name] = st
    assert runs["plain"]["adaptive"] is None
    assert runs["dns"]["adaptive"]["extra_scores_per_positive"] == pytest.approx(20, rel=0.01)
    dns = runs["dns"]["adaptive"]
    assert dns["mean_negative_score"] > dns["mean_candidate_score"] + 0.02   # top 3 of 20 (random: +-0.002)
    assert 0 < runs["adv"]["adaptive"]["mean_weight_entropy"] < np.log(3)
    ids2, offsets2 = _two_word_corpus()
    s = NegativeSampler(negative=2, noise="uniform", candidates=4, labels=["a", "a", "a", "b", "b", "b"],
                        max_redraw=50)
    _, W_out, _ = train_sgns(ids2, offsets2, np.ones(6), dim=8, window=1, negatives=s, epochs=1, threads=1)
    assert np.all(W_out[2] == 0) and np.any(W_out[3:] != 0)
    with pytest.raises(NegsampleError, match="per-example"):
        train_sgns(ids2, offsets2, np.ones(6), dim=8, negatives=NegativeSampler(negative=2, mode="shared", candidates=4))
