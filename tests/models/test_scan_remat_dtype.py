"""Execution options that must not change the maths: scanned vs unrolled layers, remat, and
(within bfloat16 precision) the bf16 compute path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from tiny_models import tiny_config

from jaxlm.models import build_model
from jaxlm.nn.stack import stack_layers, unstack_layers

VOCAB = 61


def tokens(shape, seed):
    return np.random.default_rng(seed).integers(1, VOCAB, shape).astype(np.int32)


def weights(model):
    return nnx.state(model, nnx.Param).to_pure_dict()


def main_output(model_outputs):
    return model_outputs["mlm_logits" if "mlm_logits" in model_outputs else "logits"]


def run(forward, model, variant, seed=0):
    inputs = tokens((2, 8), seed)
    if variant.startswith("t5"):
        return forward(model, inputs, tokens((2, 6), seed + 1))
    return forward(model, inputs)


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# --- scan -------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["gpt2", "bert", "t5"])
def test_scanned_and_unrolled_stacks_agree_with_the_same_weights(tiny_model, forward, variant):
    """The unrolled model's weights, stacked along [layers], are loaded into the (shared)
    scanned model; both then give the same outputs."""
    unrolled = tiny_model(variant)
    scanned = tiny_model(variant, "model.scan_layers=true")
    nnx.update(scanned, nnx.State(stack_layers(weights(unrolled))))
    assert_trees_equal(unstack_layers(weights(scanned)), weights(unrolled))  # every weight was replaced
    expected, got = run(forward, unrolled, variant), run(forward, scanned, variant)
    for key in expected:
        if key != "cache":
            np.testing.assert_allclose(np.asarray(got[key]), np.asarray(expected[key]), rtol=1e-5, atol=1e-6)


def test_stack_and_unstack_layers_are_inverse_and_add_a_leading_layers_axis(tiny_model):
    unrolled = weights(tiny_model("t5"))
    stacked = stack_layers(unrolled)
    kernel = stacked["encoder"]["layers"]["self_attention"]["query"]["kernel"]
    assert kernel.shape == (2, 16, 16)
    np.testing.assert_array_equal(kernel[1], unrolled["encoder"]["layers"][1]["self_attention"]["query"]["kernel"])
    assert stacked["encoder"]["relative_bias"] == unrolled["encoder"]["relative_bias"]  # outside 'layers': as is
    assert_trees_equal(unstack_layers(stacked), unrolled)
    assert_trees_equal(stack_layers(stacked), stacked)  # already stacked: unchanged


# --- remat ------------------------------------------------------------------------------------

@nnx.jit
def loss_and_grads(model, inputs):
    """Next-token cross-entropy and its gradient with respect to every parameter."""
    def loss(model):
        log_probs = jax.nn.log_softmax(model(inputs)["logits"][:, :-1])
        return -jnp.mean(jnp.take_along_axis(log_probs, inputs[:, 1:, None], axis=-1))
    return nnx.value_and_grad(loss)(model)


@pytest.mark.parametrize(("remat", "scan"), [("full", False), ("dots_no_batch", True)])
def test_remat_gives_the_same_loss_and_gradients(tiny_model, remat, scan):
    layout = f"model.scan_layers={str(scan).lower()}"
    plain = tiny_model("gpt2", layout)
    rematted = build_model(tiny_config("gpt2", layout, f"model.remat={remat}"))
    nnx.update(rematted, nnx.state(plain, nnx.Param))
    inputs = tokens((2, 8), 3)
    loss, grads = loss_and_grads(plain, inputs)
    remat_loss, remat_grads = loss_and_grads(rematted, inputs)
    np.testing.assert_allclose(remat_loss, loss, rtol=1e-6)
    for got, expected in zip(jax.tree.leaves(remat_grads), jax.tree.leaves(grads), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-7)
    assert any(np.abs(np.asarray(g)).max() > 0 for g in jax.tree.leaves(grads))


# --- bf16 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["gpt2", "bert", "t5"])
def test_bfloat16_compute_stays_close_to_float32(tiny_model, forward, variant):
    """Same float32 weights, compute in bfloat16 (8 mantissa bits, relative step 2^-8 ≈ 0.4 %).
    Over two layers the error stays a few percent of the logits' RMS; we allow 10 %. Logits
    come out float32 either way."""
    full = tiny_model(variant)
    half = build_model(tiny_config(variant, "model.dtype=bfloat16"))
    nnx.update(half, nnx.state(full, nnx.Param))
    expected, got = run(forward, full, variant), run(forward, half, variant)
    assert got["hidden"].dtype == jnp.bfloat16
    logits, reference = np.asarray(main_output(got)), np.asarray(main_output(expected))
    assert logits.dtype == np.float32
    rms = np.sqrt(np.mean(reference**2))
    assert np.abs(logits - reference).max() <= 0.1 * rms
