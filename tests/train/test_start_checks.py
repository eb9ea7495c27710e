"""What `jaxlm train` checks before it trains: writable workdir and cache, a validation split for the
final eval, and whether the run is already complete. Each problem is one line and exit code 2."""

from __future__ import annotations

import os

import pytest

from jaxlm.cli import main
from tests.train.helpers import TINY_MODEL

SMALL = [m for m in TINY_MODEL if not m.startswith("model.vocab_size")] + [
    "data.seq_length=32", "data.batch_size=8", "train.examples=0", "train.eval_batches=1", "train.log_every=5",
]


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: ")
    return line


def blocked_path(tmp_path, how: str):
    """A path jaxlm cannot create a directory at."""
    afile = tmp_path / "a_file"
    afile.write_text("not a directory")
    if how == "is a file":
        return afile
    if how == "under a file":
        return afile / "run"
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    return locked / "run"


@pytest.mark.parametrize("how", ["is a file", "under a file", "read-only parent"])
def test_an_unwritable_workdir_is_one_line_before_any_work(tmp_path, capsys, how):
    workdir = blocked_path(tmp_path, how)
    assert main(["train", "gpt2_tiny", *SMALL, "--workdir", str(workdir), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: workdir: cannot write to {workdir} (")
    assert line.endswith("; pass --workdir (or workdir=) a writable directory")


@pytest.mark.parametrize("how", ["is a file", "under a file", "read-only parent"])
def test_an_unwritable_cache_is_one_line_before_any_work(tmp_path, capsys, monkeypatch, how):
    cache = blocked_path(tmp_path, how)
    monkeypatch.setenv("JAXLM_CACHE", str(cache))
    assert main(["train", "gpt2_tiny", *SMALL, "--workdir", str(tmp_path / "run"), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: JAXLM_CACHE: cannot write to {cache} (")
    assert line.endswith("; set JAXLM_CACHE to a writable directory")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_no_validation_text_with_eval_configured_fails_at_start(tmp_path, capsys):
    workdir = tmp_path / "run"
    assert main(["train", "gpt2_tiny", *SMALL, "data.validation_fraction=0", "--workdir", str(workdir)]) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: data.validation_fraction: 0 holds out no text, but train.eval_batches=1")
    assert not (workdir / "checkpoints").exists()


def test_a_complete_run_says_so_and_how_to_continue_without_training(tmp_path, capsys):
    args = ["train", "gpt2_tiny", *SMALL, "train.steps=1", "train.eval_batches=0", "--workdir", str(tmp_path),
            "--no-progress"]
    assert main(args) == 0
    metrics = (tmp_path / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path} is already complete: step 1 of train.steps=1" in out
    assert "train.steps=2" in out and "--workdir" in out
    assert "train loss" not in out
    assert (tmp_path / "metrics.jsonl").read_text() == metrics  # nothing trained, nothing logged
