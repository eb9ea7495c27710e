"""Output heads recomputed in float64 numpy from the model's own hidden states and weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

VOCAB = 61


def tokens(shape, seed):
    return np.random.default_rng(seed).integers(1, VOCAB, shape).astype(np.int32)


def f64(x):
    return np.asarray(x, np.float64)


def dense(layer, x):
    out = f64(x) @ f64(layer.kernel[...])
    return out if layer.bias is None else out + f64(layer.bias[...])


def exact_gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def assert_close(got, expected):
    np.testing.assert_allclose(f64(got), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("variant", "scale"), [("gpt2", 1.0), ("t5", 16**-0.5)])
def test_tied_lm_head_is_the_transposed_token_embedding(tiny_model, forward, variant, scale):
    """logits = (scale · h) Eᵀ, scale = d_model^-½ in T5 v1.0 and 1 in GPT-2."""
    model = tiny_model(variant)
    inputs = tokens((2, 8), 0)
    out = forward(model, inputs, tokens((2, 6), 1)) if variant == "t5" else forward(model, inputs)
    embedding = f64(model.embedder.token.embedding[...])
    assert_close(out["logits"], scale * f64(out["hidden"]) @ embedding.T)


@pytest.mark.parametrize("variant", ["rotary_swiglu", "t5_v1_1"])
def test_untied_lm_head_has_its_own_unscaled_projection(tiny_model, forward, variant):
    model = tiny_model(variant)
    inputs = tokens((2, 8), 2)
    out = forward(model, inputs, tokens((2, 6), 3)) if variant == "t5_v1_1" else forward(model, inputs)
    assert_close(out["logits"], dense(model.lm_head.projection, out["hidden"]))


def test_bert_heads_match_their_equations(tiny_model, forward):
    """pooled = tanh(h₀ W_p + b_p); nsp/class = pooled W + b;
    mlm = LayerNorm(gelu(h W_t + b_t)) Eᵀ + b_out."""
    model = tiny_model("bert")
    out = forward(model, tokens((2, 8), 4))
    hidden = f64(out["hidden"])
    pooled = np.tanh(dense(model.pooler.dense, hidden[:, 0]))
    assert_close(out["pooled"], pooled)
    assert_close(out["nsp_logits"], dense(model.nsp_head.dense, pooled))
    assert_close(out["class_logits"], dense(model.classifier.dense, pooled))
    head = model.mlm_head
    t = exact_gelu(dense(head.transform, hidden))
    mean, var = t.mean(-1, keepdims=True), t.var(-1, keepdims=True)
    t = (t - mean) / np.sqrt(var + head.norm.eps) * f64(head.norm.scale[...]) + f64(head.norm.bias[...])
    embedding = f64(model.embedder.token.embedding[...])
    assert_close(out["mlm_logits"], t @ embedding.T + f64(head.output_bias[...]))


def test_mlm_logits_at_given_positions_equal_the_full_logits_there(tiny_model, forward):
    model = tiny_model("bert")
    inputs = tokens((2, 8), 5)
    positions = np.array([[1, 4, 6], [0, 0, 7]], np.int32)
    everywhere = f64(forward(model, inputs)["mlm_logits"])
    at_positions = forward(model, inputs, mlm_positions=positions)["mlm_logits"]
    assert at_positions.shape == (2, 3, VOCAB)
    assert_close(at_positions, np.take_along_axis(everywhere, positions[:, :, None], axis=1))
