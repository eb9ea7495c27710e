"""Checkpointer: keep-last-K plus best, and restoring onto a different mesh."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxlm.config import CheckpointConfig, load_config
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.loop import train
from jaxlm.train.session import build_session
from tests.train.test_loop import SMALL


def test_keeps_the_newest_k_and_the_best(tmp_path):
    checkpoints = Checkpointer(tmp_path, CheckpointConfig(keep=2, metric="loss", mode="min"))
    for step, loss in zip(range(1, 6), [3.0, 1.0, 4.0, 5.0, 6.0], strict=True):
        checkpoints.save(step, {"w": jnp.full((2,), step)}, {"batches": step}, {}, {"loss": loss})
    checkpoints.wait()
    assert checkpoints.steps() == [2, 4, 5]
    checkpoints.close()


def test_a_checkpoint_restores_onto_another_mesh(tmp_path):
    overrides = [*SMALL, "train.steps=2", "train.eval_batches=0", f"workdir={tmp_path}"]
    trained = train(load_config("gpt2_tiny", overrides), progress=False, console=lambda _: None)
    fsdp = build_session(load_config("gpt2_tiny", [*overrides, "parallel.strategy=fsdp"]))
    step, state, data_state, _ = Checkpointer(tmp_path / "checkpoints", CheckpointConfig()).restore(
        fsdp.abstract_state(), fsdp.cfg)
    assert step == 2 and data_state["batches"] == 2
    kernel = state["params"]["decoder"]["layers"][0]["feed_forward"]["wi_0"]["kernel"]
    assert "fsdp" in str(kernel.get_value().sharding.spec)
    for a, b in zip(jax.tree.leaves(trained.session.state["params"]), jax.tree.leaves(state["params"]), strict=True):
        np.testing.assert_array_equal(a, b)
