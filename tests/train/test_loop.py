"""The training loop on the embedded corpus: loss falls, logs are written, resume is exact,
signals save, a corrupt checkpoint is skipped, NaN stops the run."""

import dataclasses
import json
import os
import signal

import numpy as np
import pytest

import jaxlm.train.loop as loop_module
import jaxlm.train.session as session_module
from jaxlm.cli import main
from jaxlm.config import load_config
from jaxlm.objectives import get_objective
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.loop import train
from jaxlm.train.reporter import NonFiniteLossError
from jaxlm.train.session import build_session
from tests.train.helpers import TINY_MODEL

# The presets' vocabulary (2048) keeps the cached tokenizer shared with the main job.
SMALL = [m for m in TINY_MODEL if not m.startswith("model.vocab_size")] + [
    "data.seq_length=32", "data.batch_size=8", "train.examples=0", "train.eval_batches=1", "train.log_every=5",
]


def small_config(name, workdir, *overrides):
    return load_config(name, [*SMALL, f"workdir={workdir}", *overrides])


@pytest.mark.parametrize("name", ["bert_tiny", "gpt2_tiny", "t5_tiny"])
def test_loss_falls_on_the_embedded_corpus(name, tmp_path):
    t5 = ["data.target_length=12", "train.learning_rate=1e-2"] if name == "t5_tiny" else []
    cfg = small_config(name, tmp_path, "train.steps=30", "train.learning_rate=3e-3", "train.warmup_steps=3",
                       "model.dropout_rate=0.0", *t5)
    result = train(cfg, progress=False, console=lambda _: None)
    losses = [result.losses[s] for s in sorted(result.losses)]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5, losses
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["split"] == "train"]
    assert [r["step"] for r in train_rows] == [5, 10, 15, 20, 25, 30]
    assert all({"loss", "tokens_per_s", "step_time_s", "tflops_per_device"} <= set(r) for r in train_rows)
    assert any(r["split"] == "eval" for r in rows)
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert Checkpointer(tmp_path / "checkpoints", cfg.checkpoint).steps() == [30]


def test_resume_is_bit_identical(tmp_path):
    steps = ["train.steps=12", "train.eval_batches=0"]
    straight = train(small_config("gpt2_tiny", tmp_path / "straight", *steps), progress=False, console=lambda _: None)
    resumed_cfg = small_config("gpt2_tiny", tmp_path / "resumed", *steps)
    first = train(resumed_cfg, stop_at=6, progress=False, console=lambda _: None)
    assert first.step == 6 and first.stopped_by
    second = train(resumed_cfg, progress=False, console=lambda _: None)
    assert sorted(second.losses) == list(range(7, 13))
    assert {**first.losses, **second.losses} == straight.losses


def test_eval_command_reads_the_newest_checkpoint(tmp_path, capsys):
    overrides = [*SMALL, "train.steps=2", "train.eval_batches=0", f"workdir={tmp_path}"]
    train(load_config("gpt2_tiny", overrides), progress=False, console=lambda _: None)
    assert main(["eval", "gpt2_tiny", *overrides, "--batches", "1"]) == 0
    out = capsys.readouterr().out
    assert "step 2, validation" in out and "loss" in out


def test_sigterm_saves_a_checkpoint_and_returns(tmp_path):
    cfg = small_config("gpt2_tiny", tmp_path, "train.steps=1000", "train.log_every=2", "train.eval_batches=0")

    def console(line):
        if line.startswith("train step"):
            os.kill(os.getpid(), signal.SIGTERM)

    result = train(cfg, progress=False, console=console)
    assert result.stopped_by == "SIGTERM"
    assert result.step < 1000
    assert Checkpointer(tmp_path / "checkpoints", cfg.checkpoint).steps()[-1] == result.step


def test_corrupt_latest_checkpoint_is_skipped_with_a_warning(tmp_path):
    cfg = small_config("gpt2_tiny", tmp_path, "train.steps=4", "checkpoint.every=2", "train.eval_batches=0")
    original = train(cfg, progress=False, console=lambda _: None)
    for file in (tmp_path / "checkpoints" / "4" / "state").rglob("*"):
        if file.is_file():
            file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with pytest.warns(UserWarning, match="step 4 .* corrupt"):
        again = train(cfg, progress=False, console=lambda _: None)
    assert sorted(again.losses) == [3, 4]
    assert again.losses == {3: original.losses[3], 4: original.losses[4]}


def test_nan_loss_stops_the_run_naming_the_step(tmp_path, monkeypatch):
    objective = get_objective("causal_lm")

    def poisoned_forward(model, batch, deterministic):
        outputs = objective.forward(model, batch, deterministic)
        return {**outputs, "logits": outputs["logits"] * np.nan}

    poisoned = dataclasses.replace(objective, forward=poisoned_forward)
    monkeypatch.setattr(session_module, "get_objective", lambda name: poisoned)
    cfg = small_config("gpt2_tiny", tmp_path, "train.steps=5", "train.eval_batches=0")
    with pytest.raises(NonFiniteLossError, match=r"at step 1;.*train\.nan_policy=skip"):
        train(cfg, progress=False, console=lambda _: None)


def test_step_metrics_are_read_after_the_next_step_was_dispatched(tmp_path, monkeypatch):
    sessions = []

    def keep_session(*args, **kwargs):
        sessions.append(build_session(*args, **kwargs))
        return sessions[-1]

    monkeypatch.setattr(loop_module, "build_session", keep_session)
    seen = {}

    def console(line):
        if line.startswith("train step"):
            seen[int(line.split()[2].rstrip(":"))] = int(sessions[0].state["step"])

    cfg = small_config("gpt2_tiny", tmp_path, "train.steps=4", "train.log_every=1", "train.eval_batches=0")
    result = train(cfg, progress=False, console=console)
    assert seen == {2: 3, 3: 4, 4: 4}  # step n is logged once step n + 1 is on the device (the last at the end)
    assert sorted(result.losses) == [1, 2, 3, 4]
