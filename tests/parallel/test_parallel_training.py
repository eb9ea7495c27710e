"""Every strategy trains exactly like one device, and checkpoints move between meshes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import STEPS
from parallel_harness import STRATEGY_MESH

FAMILIES = ("encoder", "decoder", "encoder_decoder")


@pytest.mark.parametrize("strategy", list(STRATEGY_MESH))
@pytest.mark.parametrize("family", FAMILIES)
def test_losses_over_five_steps_equal_the_single_device_run(train_run, family, strategy):
    _, single = train_run(family, "single")
    _, sharded = train_run(family, strategy)
    assert len(sharded) == STEPS
    assert single[0] != single[-1]  # the model is really training
    np.testing.assert_allclose(sharded, single, rtol=1e-5)


def test_checkpoint_saved_under_fsdp_tp_restores_under_dp_and_continues_identically(train_run, tmp_path):
    source, _ = train_run("decoder", "fsdp_tp")
    source.train(range(STEPS, STEPS + 2))  # two steps ahead of the dp run, so a restore shows
    source.save(tmp_path, STEPS + 2)
    continued = source.train(range(STEPS + 2, STEPS + 5))

    target, _ = train_run("decoder", "dp")  # a different mesh, still at step 5
    assert target.restore(tmp_path) == STEPS + 2
    assert int(target.state["step"]) == STEPS + 2
    kernel = target.state["params"]["decoder"]["layers"][0]["feed_forward"]["wi_0"]["kernel"][...]
    assert {s.data.shape for s in kernel.addressable_shards} == {(64, 128)}  # whole under dp
    resumed = target.train(range(STEPS + 2, STEPS + 5))
    np.testing.assert_allclose(resumed, continued, rtol=1e-5)
