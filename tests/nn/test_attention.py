"""Attention cores and the multi-head attention module against a float64 numpy reference,
with padding, causal, packed-segment and cross masks and a T5-style additive bias."""

import numpy as np
import pytest
from flax import nnx
from numpy_references import allowed, attention

from jaxlm.config import ModelConfig
from jaxlm.nn.attention import MultiHeadAttention
from jaxlm.nn.attention_core import attention_weights, combine_values, fused_attention
from jaxlm.nn.masks import attention_mask, sequence_lengths

B, L, H, D = 2, 6, 2, 4
# row 0: one document then two pads; row 1: two packed documents.
SEGMENTS = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 2, 2, 2]], np.int32)
# one document per row, padding last: what `packed=False` promises.
UNPACKED = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], np.int32)


def random_qkv(seed=0, lq=L, lk=L):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(B, lq, H, D)).astype(np.float32),
            rng.normal(size=(B, lk, H, D)).astype(np.float32),
            rng.normal(size=(B, lk, H, D)).astype(np.float32))


def t5_style_bias(lq=L, lk=L):
    return np.random.default_rng(9).normal(size=(1, H, lq, lk)).astype(np.float32)


def real_rows(segments):
    """Queries that see at least one key: the rows the reference defines."""
    return segments != 0


@pytest.mark.parametrize("causal", [False, True])
def test_mask_follows_the_segment_rule(causal):
    mask = np.asarray(attention_mask(SEGMENTS, SEGMENTS, causal=causal))
    assert mask.shape == (B, 1, L, L)
    np.testing.assert_array_equal(mask[:, 0], allowed(SEGMENTS, SEGMENTS, causal=causal))


def test_causal_mask_with_offset_compares_absolute_slots():
    keys = np.array([[1, 1, 1, 1, 0, 0]], np.int32)
    mask = np.asarray(attention_mask(keys[:, 2:3], keys, causal=True, query_offset=2))
    np.testing.assert_array_equal(mask[0, 0, 0], [True, True, True, False, False, False])


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("impl", ["reference", "xla"])
def test_attention_core_matches_reference(impl, with_bias, causal):
    q, k, v = random_qkv()
    bias = t5_style_bias() if with_bias else None
    mask = attention_mask(SEGMENTS, SEGMENTS, causal=causal)
    if impl == "reference":
        out = combine_values(attention_weights(q, k, mask, bias, 0.5), v)
    else:
        out = fused_attention(q, k, v, bias, 0.5, "xla", mask=mask, is_causal=causal)
    expected, _ = attention(q, k, v, allowed(SEGMENTS, SEGMENTS, causal=causal), bias, 0.5)
    rows = real_rows(SEGMENTS)
    np.testing.assert_allclose(np.asarray(out)[rows], expected[rows], rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(np.asarray(out))), "fully masked (padding) queries must stay finite"


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_fused_core_with_causality_and_lengths_instead_of_a_mask_matches_reference(with_bias, causal):
    q, k, v = random_qkv(1)
    bias = t5_style_bias() if with_bias else None
    lengths = sequence_lengths(UNPACKED)
    np.testing.assert_array_equal(lengths, [4, 6])
    out = fused_attention(q, k, v, bias, 0.5, "xla", is_causal=causal, query_lengths=lengths, key_lengths=lengths)
    expected, _ = attention(q, k, v, allowed(UNPACKED, UNPACKED, causal=causal), bias, 0.5)
    rows = real_rows(UNPACKED)
    np.testing.assert_allclose(np.asarray(out)[rows], expected[rows], rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(np.asarray(out))), "padding queries must stay finite"


def test_reference_weights_are_zero_on_masked_keys_and_sum_to_one():
    q, k, _ = random_qkv()
    weights = np.asarray(attention_weights(q, k, attention_mask(SEGMENTS, SEGMENTS, causal=True), None, 0.5))
    _, expected = attention(q, k, k, allowed(SEGMENTS, SEGMENTS, causal=True), None, 0.5)
    rows = real_rows(SEGMENTS)
    np.testing.assert_allclose(weights.transpose(0, 2, 1, 3)[rows], expected.transpose(0, 2, 1, 3)[rows],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)


def tiny_attention_config(impl, *, scale_attention=True, use_bias=True):
    return ModelConfig(
        family="decoder", vocab_size=8, d_model=H * D, num_heads=H, d_ff=16, num_layers=1,
        attention_impl=impl, scale_attention=scale_attention, use_bias=use_bias, dropout_rate=0.0,
    )


def module_weights(module):
    """(kernel, bias) of each projection as float64 numpy (bias 0 when absent)."""
    def get(dense):
        kernel = np.asarray(dense.kernel[...], np.float64)
        bias = np.zeros(kernel.shape[1]) if dense.bias is None else np.asarray(dense.bias[...], np.float64)
        return kernel, bias
    return {name: get(getattr(module, name)) for name in ("query", "key", "value", "output")}


def reference_multi_head(weights, x, source, visible, bias, scale):
    """concat_h softmax(scale q_h k_hᵀ + bias) v_h · W_o + b_o, with q = x W_q + b_q etc."""
    def project(name, inp):
        kernel, b = weights[name]
        out = np.asarray(inp, np.float64) @ kernel + b
        return out.reshape(*out.shape[:2], H, D)
    out, _ = attention(project("query", x), project("key", source), project("value", source), visible, bias, scale)
    kernel, b = weights["output"]
    return out.reshape(*out.shape[:2], H * D) @ kernel + b


@pytest.mark.parametrize("impl", ["reference", "xla"])
def test_causal_self_attention_module_matches_reference(impl):
    module = MultiHeadAttention(tiny_attention_config(impl), causal=True, rngs=nnx.Rngs(0))
    x = np.random.default_rng(3).normal(size=(B, L, H * D)).astype(np.float32)
    out, cache = module(x, SEGMENTS)
    assert cache is None
    expected = reference_multi_head(
        module_weights(module), x, x, allowed(SEGMENTS, SEGMENTS, causal=True), None, D**-0.5
    )
    rows = real_rows(SEGMENTS)
    np.testing.assert_allclose(np.asarray(out)[rows], expected[rows], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("impl", ["reference", "xla"])
def test_t5_style_attention_module_is_unscaled_and_adds_the_bias(impl):
    cfg = tiny_attention_config(impl, scale_attention=False, use_bias=False)
    module = MultiHeadAttention(cfg, causal=False, rngs=nnx.Rngs(1))
    x = np.random.default_rng(4).normal(size=(B, L, H * D)).astype(np.float32)
    bias = t5_style_bias()
    out, _ = module(x, SEGMENTS, bias=bias)
    expected = reference_multi_head(
        module_weights(module), x, x, allowed(SEGMENTS, SEGMENTS, causal=False), bias, 1.0
    )
    rows = real_rows(SEGMENTS)
    np.testing.assert_allclose(np.asarray(out)[rows], expected[rows], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("impl", ["reference", "xla"])
def test_cross_attention_module_attends_to_the_same_segment_of_the_context(impl):
    module = MultiHeadAttention(tiny_attention_config(impl), causal=False, cross=True, rngs=nnx.Rngs(2))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(B, 3, H * D)).astype(np.float32)
    context = rng.normal(size=(B, L, H * D)).astype(np.float32)
    query_segments = np.array([[1, 1, 0], [1, 2, 2]], np.int32)
    out, _ = module(x, query_segments, context=context, context_segments=SEGMENTS)
    expected = reference_multi_head(
        module_weights(module), x, context, allowed(query_segments, SEGMENTS, causal=False), None, D**-0.5
    )
    rows = real_rows(query_segments)
    np.testing.assert_allclose(np.asarray(out)[rows], expected[rows], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_unpacked_self_attention_module_takes_lengths_and_matches_reference(causal):
    module = MultiHeadAttention(tiny_attention_config("xla"), causal=causal, rngs=nnx.Rngs(7))
    x = np.random.default_rng(8).normal(size=(B, L, H * D)).astype(np.float32)
    out, _ = module(x, UNPACKED, packed=False)
    expected = reference_multi_head(
        module_weights(module), x, x, allowed(UNPACKED, UNPACKED, causal=causal), None, D**-0.5
    )
    rows = real_rows(UNPACKED)
    np.testing.assert_allclose(np.asarray(out)[rows], expected[rows], rtol=1e-4, atol=1e-5)
    dense, _ = module(x, UNPACKED)
    np.testing.assert_allclose(np.asarray(out)[rows], np.asarray(dense)[rows], rtol=1e-5, atol=1e-6)


def test_unpacked_cross_attention_module_takes_lengths_and_matches_reference():
    module = MultiHeadAttention(tiny_attention_config("xla"), causal=False, cross=True, rngs=nnx.Rngs(2))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(B, 3, H * D)).astype(np.float32)
    context = rng.normal(size=(B, L, H * D)).astype(np.float32)
    query_segments = np.array([[1, 1, 0], [1, 1, 1]], np.int32)
    out, _ = module(x, query_segments, context=context, context_segments=UNPACKED, packed=False)
    expected = reference_multi_head(
        module_weights(module), x, context, allowed(query_segments, UNPACKED, causal=False), None, D**-0.5
    )
    rows = real_rows(query_segments)
    np.testing.assert_allclose(np.asarray(out)[rows], expected[rows], rtol=1e-4, atol=1e-5)


def test_reference_core_records_attention_weights_when_asked():
    module = MultiHeadAttention(tiny_attention_config("reference"), causal=True, rngs=nnx.Rngs(0))
    module.record_weights = True
    x = np.random.default_rng(6).normal(size=(B, L, H * D)).astype(np.float32)
    module(x, SEGMENTS)
    (weights,) = nnx.pop(module, nnx.Intermediate)["attention_weights"]
    weights = np.asarray(weights)
    assert weights.shape == (B, H, L, L)
    np.testing.assert_array_equal(weights[0, :, 0, 1:], 0.0)  # causal: query 0 sees only key 0
    np.testing.assert_array_equal(weights[1, :, 3, :3], 0.0)  # packed: document 2 never sees document 1
