"""Train step semantics: accumulation, NaN skipping, deterministic dropout."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxlm.models import build_model
from jaxlm.train.optimizer import make_optimizer
from jaxlm.train.step import init_train_state, jit_train_step, make_train_step, split_model
from tests.train.helpers import lm_loss, random_lm_batch, tiny_config


def _run(cfg, batch, microbatches, loss_fn=lm_loss, skip=False):
    graphdef, params, rngs = split_model(build_model(cfg.model, seed=0))
    tx = make_optimizer(cfg.train)
    step = jit_train_step(make_train_step(graphdef, rngs, loss_fn, tx, microbatches=microbatches,
                                          skip_nonfinite=skip))
    state = init_train_state(params, tx)
    return step(state, batch)


def test_two_microbatches_equal_one_double_batch():
    cfg = tiny_config("gpt2_tiny", "model.dropout_rate=0.0", "train.warmup_steps=0")
    batch = random_lm_batch(8, 16, 64)
    whole, whole_metrics = _run(cfg, batch, 1)
    split, split_metrics = _run(cfg, batch, 2)
    np.testing.assert_allclose(whole_metrics["loss"], split_metrics["loss"], rtol=1e-6)
    np.testing.assert_allclose(whole_metrics["grad_norm"], split_metrics["grad_norm"], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(whole["params"]), jax.tree.leaves(split["params"]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # Adam steps are ~lr=1e-3


def test_skip_policy_leaves_params_untouched_on_nan_loss():
    cfg = tiny_config("gpt2_tiny", "train.warmup_steps=0")

    def nan_loss(model, batch, *, deterministic):
        loss, _ = lm_loss(model, batch, deterministic=deterministic)
        loss = loss * jnp.nan
        return loss, {"loss": loss}

    _, params, _ = split_model(build_model(cfg.model, seed=0))
    before = jax.tree.map(np.asarray, params)
    state, metrics = _run(cfg, random_lm_batch(4, 8, 64), 1, nan_loss, skip=True)
    assert float(metrics["finite"]) == 0.0
    assert int(state["step"]) == 1
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(state["params"]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_dropout_is_a_function_of_the_step():
    cfg = tiny_config("gpt2_tiny", "model.dropout_rate=0.5")
    batch = random_lm_batch(4, 8, 64)
    _, first = _run(cfg, batch, 1)
    _, again = _run(cfg, batch, 1)
    assert float(first["loss"]) == float(again["loss"])


def test_bfloat16_compute_keeps_float32_params_and_loss():
    cfg = tiny_config("gpt2_tiny", "model.dtype=bfloat16")
    state, metrics = _run(cfg, random_lm_batch(4, 8, 64), 1)
    assert metrics["loss"].dtype == jnp.float32 and np.isfinite(float(metrics["loss"]))
    assert {leaf.dtype for leaf in jax.tree.leaves(state["params"])} == {jnp.dtype("float32")}
