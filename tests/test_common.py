"""Plumbing shared by every trainer: atomic output, progress lines, hyper-parameter checks, CLI errors."""
import io
import os

import pytest

from negsample import NegsampleError
from negsample._common import Progress, check_finite_float, check_positive_int
from negsample.io import atomic_write
from negsample.cli import main


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as fh:
            fh.write("partial")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temp file left behind
    with atomic_write(target, "w") as fh:
        fh.write("new")
    assert target.read_text() == "new"


def test_progress_line_reports_rate_eta_and_metrics():
    stream = io.StringIO()
    prog = Progress(total=1000, unit="words", desc="epoch 1", stream=stream, interval_noninteractive=0)
    prog.update(250, loss=0.5, lr=0.02)
    prog.close()
    out = stream.getvalue()
    assert "epoch 1" in out and "25.0%" in out and "words/s" in out and "ETA" in out
    assert "loss 0.5" in out and "lr 0.02" in out
    silent = io.StringIO()
    Progress(10, stream=silent, enabled=False).update(5)
    assert silent.getvalue() == ""


def test_hyper_parameter_checks():
    assert check_positive_int("dim", 100) == 100
    with pytest.raises(NegsampleError, match="dim must be >= 1, got 0"):
        check_positive_int("dim", 0)
    with pytest.raises(NegsampleError, match="window must be an integer"):
        check_positive_int("window", 2.5)
    assert check_finite_float("sample", 1e-4, minimum=0) == 1e-4
    with pytest.raises(NegsampleError, match="sample must be >= 0"):
        check_finite_float("sample", -1, minimum=0)
    with pytest.raises(NegsampleError, match="lr must be > 0"):
        check_finite_float("lr", 0, minimum=0, strict_min=True)
    with pytest.raises(NegsampleError, match="lr must be finite"):
        check_finite_float("lr", float("nan"))


def test_cli_without_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: negsample" in capsys.readouterr().out
