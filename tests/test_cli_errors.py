"""Command-line arguments that make no sense are one line and exit code 2, before any work."""

from __future__ import annotations

from jaxlm.cli import main


def test_eval_with_a_negative_batch_count_is_one_line(tmp_path, capsys):
    assert main(["eval", "gpt2_tiny", "--workdir", str(tmp_path / "run"), "--batches", "-1"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == "error: --batches=-1: give a positive number of batches (0 or none: train.eval_batches)"
    assert not (tmp_path / "run").exists()
