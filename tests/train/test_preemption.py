"""Stopping cleanly: signals held until the last checkpoint is committed, exit codes, a second
signal, too many skipped updates, and one metrics row per logged step across resumes."""

import json
import os
import signal

import numpy as np
import pytest

import jaxlm.train.loop as loop_module
import jaxlm.train.session as session_module
from jaxlm.cli import main
from jaxlm.objectives import get_objective
from jaxlm.train import checkpoint as checkpoint_module
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.loop import train
from jaxlm.train.reporter import NonFiniteLossError
from tests.train.test_loop import SMALL, small_config


def test_sigterm_during_the_final_eval_still_saves_the_last_step(tmp_path, monkeypatch):
    evaluate_split = loop_module.evaluate_split

    def preempted_during_eval(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return evaluate_split(*args, **kwargs)

    monkeypatch.setattr(loop_module, "evaluate_split", preempted_during_eval)
    cfg = small_config("gpt2_tiny", tmp_path, "train.steps=2")
    result = train(cfg, progress=False, console=lambda _: None)
    assert result.eval_metrics and not result.stopped_by  # the run finished: its exit code is 0
    assert Checkpointer(tmp_path / "checkpoints", cfg.checkpoint, writable=False).steps() == [2]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_exits_with_its_code_and_a_second_one_waits_for_the_save(signum, code, tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(loop_module.flops, "train_flops", lambda *args: os.kill(os.getpid(), signum) or 1.0)
    save = checkpoint_module.Checkpointer.save

    def impatient(self, *args, **kwargs):
        os.kill(os.getpid(), signum)  # pressed again while the checkpoint is being written
        return save(self, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.Checkpointer, "save", impatient)
    args = [*SMALL, "train.steps=50", "train.eval_batches=0", f"workdir={tmp_path}"]
    assert main(["train", "gpt2_tiny", *args, "--no-progress"]) == code
    out, err = capfd.readouterr()
    assert f"stopped by {signal.Signals(signum).name} after step 1" in out
    assert f"{signal.Signals(signum).name} again: already stopping" in err and "Traceback" not in err
    assert Checkpointer(tmp_path / "checkpoints", small_config("gpt2_tiny", tmp_path).checkpoint,
                        writable=False).steps() == [1]


def test_too_many_skipped_updates_stop_the_run(tmp_path, monkeypatch):
    objective = get_objective("causal_lm")

    class Poisoned:
        @staticmethod
        def loss(model, batch, *, deterministic):
            loss, metrics = objective.loss(model, batch, deterministic=deterministic)
            return loss * np.nan, {**metrics, "loss": loss * np.nan}

    monkeypatch.setattr(session_module, "get_objective", lambda name: Poisoned)
    cfg = small_config("gpt2_tiny", tmp_path, "train.steps=10", "train.eval_batches=0", "train.nan_policy=skip",
                       "train.max_skipped_updates=2")
    with pytest.raises(NonFiniteLossError, match=r"3 updates in a row skipped .* at step 3.*max_skipped_updates"):
        train(cfg, progress=False, console=lambda _: None)


def test_metrics_hold_one_row_per_logged_step_across_resumes(tmp_path):
    cfg = small_config("gpt2_tiny", tmp_path, "train.steps=5", "train.log_every=1", "checkpoint.every=2")

    def crash_after_step_3_is_logged(line):
        if line.startswith("train step 3"):
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        train(cfg, progress=False, console=crash_after_step_3_is_logged)
    lines = []
    train(cfg, progress=False, console=lines.append)  # resumes from step 2: step 3 is trained again
    assert "metrics.jsonl: dropped 1 rows after step 2, which this run trains again" in lines
    train(cfg, progress=False, console=lambda _: None)  # a finished run: its final eval again, not logged twice
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["split"], r["step"]) for r in rows] == [("train", s) for s in range(1, 6)] + [("eval", 5)]
    assert "tokens_per_s" not in rows[0] and "tokens_per_s" in rows[1]  # a start's first step is not timed


def test_every_preset_saves_checkpoints_on_a_cadence():
    from jaxlm.config import load_config, preset_names

    assert all(load_config(name).checkpoint.every > 0 for name in preset_names())
