"""Figures: each plot command writes a real PNG from the files the other commands write."""
import json

import numpy as np
import pytest

from negsample.cli import main

pytest.importorskip("matplotlib")


def _is_png(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def test_plot_commands(tmp_path, capsys):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(words, 8)) for _ in range(300)) + "\n")
    assert main(["word2vec", "train", str(corpus), "-o", str(tmp_path / "v.txt"), "--format", "text", "--dim", "8",
                 "--min-count", "1", "--epochs", "3", "--save-model", str(tmp_path / "m.npz"), "--json"]) == 0
    (tmp_path / "run.json").write_text(capsys.readouterr().out)
    assert main(["plot", "loss", str(tmp_path / "run.json"), "-o", str(tmp_path / "loss.png"), "--quiet"]) == 0
    labels = tmp_path / "labels.tsv"
    labels.write_text("".join(f"w{i}\t{i % 3}\n" for i in range(30)))
    assert main(["plot", "embeddings", str(tmp_path / "v.txt"), "-o", str(tmp_path / "emb.png"),
                 "--labels", str(labels), "--quiet"]) == 0
    assert main(["plot", "noise", str(tmp_path / "m.npz"), "-o", str(tmp_path / "noise.png"), "--quiet"]) == 0
    (tmp_path / "h.json").write_text(json.dumps({"history": [[0.1, 1.0], [0.12, 1.2], [0.13, 1.3]], "target": 1.3}))
    assert main(["plot", "entropy", str(tmp_path / "h.json"), "-o", str(tmp_path / "ent.png"), "--quiet"]) == 0
    for name in ("loss", "emb", "noise", "ent"):
        assert _is_png(tmp_path / f"{name}.png"), name
    assert main(["plot", "loss", str(labels), "-o", str(tmp_path / "x.png")]) == 2
    assert "is not JSON" in capsys.readouterr().err


def test_noise_coverage_shares_follow_the_exponent():
    from negsample.distributions import unigram
    from negsample.plots import frequency_deciles

    counts = np.arange(1, 1001, dtype=float) ** 2
    groups = frequency_deciles(counts)
    shares = {a: [unigram(counts, a)[g].sum() for g in groups] for a in (0.0, 0.75, 1.0)}
    assert np.allclose(shares[0.0], 0.1)                         # alpha 0: every decile equally
    assert shares[0.75][0] > shares[1.0][0] and shares[0.75][-1] < shares[1.0][-1]   # 0.75 lifts the rare
