"""Sequence, context and pipeline parallelism, alone and with fsdp/tp, train exactly like one
device; a run checkpointed under all of them continues under dp."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import STEPS

from jaxlm.cli import main
from jaxlm.config import load_config
from jaxlm.train.loop import train

# Each family's layouts: every new dimension it supports alone and combined with fsdp/tp or the
# others. The decoder takes all three at once through `jaxlm train` below; the encoder
# (bidirectional: no load-balancing reorder) all three in one layout and all-gather attention
# alone; T5 stages with sequence parallelism (context parallelism refuses its relative position
# bias in one line: test_parallel_mesh.py::test_layouts_that_cannot_split_sequences_or_layers_name_keys_and_fix).
LAYOUTS = {
    "decoder": ("context_ring", "context_all_gather", "sequence_tp", "stage", "context_sequence_fsdp_tp",
                "stage_fsdp_tp"),
    "encoder": ("context_all_gather", "stage_context_sequence_tp"),
    "encoder_decoder": ("stage_sequence_tp",),
}


@pytest.mark.parametrize(
    ("family", "layout"), [(family, layout) for family, layouts in LAYOUTS.items() for layout in layouts],
)
def test_losses_over_five_steps_equal_the_single_device_run(train_split_run, family, layout):
    _, single = train_split_run(family, "single")
    _, split = train_split_run(family, layout)
    assert len(split) == STEPS
    assert single[0] != single[-1]  # the model is really training
    np.testing.assert_allclose(split, single, rtol=1e-5)


def test_jaxlm_train_under_every_split_resumes_under_dp_on_packed_documents(tmp_path):
    """The user's path: a run on the packed embedded corpus (segments, per-document positions)
    under stage × context × tensor with sequence parallelism, stopped and checkpointed at step 2;
    the same workdir continued by `jaxlm train` under plain dp. Both halves match an
    uninterrupted dp run."""
    common = [
        "model.d_model=32", "model.d_ff=64", "model.num_heads=2", "model.num_layers=2", "model.scan_layers=true",
        "model.dropout_rate=0", "data.seq_length=32", "data.batch_size=8", "train.steps=4", "train.examples=0",
        "train.eval_batches=0", "train.log_every=1", "checkpoint.every=2",
    ]
    split = [
        "parallel.strategy=tp", "parallel.tensor=2", "parallel.sequence_parallel=true", "parallel.context=2",
        "parallel.stage=2", "parallel.pipeline_microbatches=2",
    ]
    workdir = tmp_path / "resumed"
    first = train(load_config("gpt2_tiny", [*common, *split, f"workdir={workdir}"]), stop_at=2, progress=False,
                  console=lambda _: None)
    assert first.step == 2
    assert main(["train", "gpt2_tiny", *common, f"workdir={workdir}", "--no-progress"]) == 0  # now under dp
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    resumed = {row["step"]: row["loss"] for row in rows if row["split"] == "train" and row["step"] > 2}
    straight = train(load_config("gpt2_tiny", [*common, f"workdir={tmp_path / 'straight'}"]), progress=False,
                     console=lambda _: None).losses
    assert sorted(first.losses) == [1, 2] and 4 in resumed  # the loop logs every step but the first of a run
    np.testing.assert_allclose([first.losses[s] for s in (1, 2)], [straight[s] for s in (1, 2)], rtol=1e-5)
    np.testing.assert_allclose([resumed[s] for s in resumed], [straight[s] for s in resumed], rtol=1e-5)
