"""Sequence, context and pipeline parallelism, alone and with fsdp/tp, train exactly like one
device; checkpoints written under them restore under dp."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import STEPS

# Ring attention runs in every context layout but the all-gather one; each dimension appears
# with fsdp/tp, and the encoder (bidirectional: no load-balancing reorder) takes all three at once.
DECODER_LAYOUTS = (
    "context_all_gather", "sequence_tp", "context_sequence_fsdp_tp", "stage_fsdp_tp", "stage_context",
)
ENCODER_LAYOUTS = ("stage_context_sequence_tp",)


@pytest.mark.parametrize(
    ("family", "layout"),
    [("decoder", layout) for layout in DECODER_LAYOUTS] + [("encoder", layout) for layout in ENCODER_LAYOUTS],
)
def test_losses_over_five_steps_equal_the_single_device_run(train_split_run, family, layout):
    _, single = train_split_run(family, "single")
    _, split = train_split_run(family, layout)
    assert len(split) == STEPS
    assert single[0] != single[-1]  # the model is really training
    np.testing.assert_allclose(split, single, rtol=1e-5)


def test_checkpoint_saved_under_stages_and_context_restores_under_dp_and_continues_identically(
    train_split_run, tmp_path
):
    source, _ = train_split_run("decoder", "stage_context")
    stacked = source.state["params"]["decoder"]["layers"]["feed_forward"]["wi_0"]["kernel"][...]
    assert {s.data.shape for s in stacked.addressable_shards} == {(1, 64, 128)}  # one layer per stage
    source.train(range(STEPS, STEPS + 2))
    source.save(tmp_path, STEPS + 2)
    continued = source.train(range(STEPS + 2, STEPS + 5))

    target, _ = train_split_run("decoder", "dp")
    assert target.restore(tmp_path) == STEPS + 2
    resumed = target.train(range(STEPS + 2, STEPS + 5))
    np.testing.assert_allclose(resumed, continued, rtol=1e-5)
