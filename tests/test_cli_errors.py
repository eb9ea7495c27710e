"""Command-line arguments that make no sense are one line and exit code 2, before any work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jaxlm.cli import main, parse_arguments


def test_eval_with_a_negative_batch_count_is_one_line(tmp_path, capsys):
    assert main(["eval", "gpt2_tiny", "--workdir", str(tmp_path / "run"), "--batches", "-1"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == "error: --batches=-1: give a positive number of batches (0 or none: train.eval_batches)"
    assert not (tmp_path / "run").exists()


def test_overrides_may_follow_the_options_in_order_and_an_unknown_option_stays_an_error(capsys):
    args = parse_arguments(["train", "gpt2_tiny", "model.d_model=64", "--no-progress", "train.steps=3",
                            "--peer-timeout", "9", "model.d_model=32"])
    assert args.overrides == ["model.d_model=64", "train.steps=3", "model.d_model=32"]
    assert args.no_progress and args.peer_timeout == 9
    with pytest.raises(SystemExit) as stop:
        parse_arguments(["train", "gpt2_tiny", "--no-progress", "train.steps=3", "--bogus"])
    assert stop.value.code == 2 and "unrecognized arguments: train.steps=3 --bogus" in capsys.readouterr().err


def test_an_override_after_an_option_reaches_the_command(tmp_path, capsys):
    # the override makes gpt2_tiny's config invalid: its one-line error proves the command saw it
    assert main(["config", "gpt2_tiny", "model.d_model=64", "model.num_heads=5"]) == 2
    expected = capsys.readouterr().err
    assert main(["eval", "gpt2_tiny", "--workdir", str(tmp_path / "run"), "model.d_model=64",
                 "model.num_heads=5"]) == 2
    assert capsys.readouterr().err == expected and not (tmp_path / "run").exists()


def test_coordinator_auto_outside_a_cluster_is_one_line(tmp_path):
    # its own process: joining a run redirects stderr through the relay and cannot be undone in-process
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SLURM_", "OMPI_", "TPU_", "KUBERNETES_", "JAX_COORDINATOR", "JAX_NUM_", "JAX_PROC"))}
    command = [sys.executable, "-m", "jaxlm.cli", "train", "gpt2_tiny", "--workdir", str(tmp_path / "run"),
               "--coordinator", "auto"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**env, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "error: --coordinator auto found no cluster to join (TPU pod slice, SLURM, Open MPI, Kubernetes); pass "
        "--coordinator HOST:PORT --num-processes N --process-id I (coordinator_address should be defined.)"]
    assert not (tmp_path / "run").exists()
