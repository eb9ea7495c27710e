"""Checks that need a GPU: the cuDNN attention core and the bfloat16 compute path on device.

Skipped on machines without a GPU (CI); run on a GPU with `JAX_PLATFORMS=cuda pytest tests/gpu`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.config import load_config
from jaxlm.models import build_model
from jaxlm.nn.attention_core import attention_weights, combine_values, fused_segment_attention
from jaxlm.nn.masks import attention_mask

pytestmark = pytest.mark.skipif(jax.default_backend() != "gpu", reason="needs a GPU")


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_cudnn_core_matches_reference_with_padding(causal, packed):
    """packed=False: is_causal and sequence lengths; packed=True: the dense mask (and is_causal)."""
    batch, length, heads, head_dim = 2, 128, 4, 64
    keys = jax.random.split(jax.random.key(0), 3)
    q, k, v = (jax.random.normal(key, (batch, length, heads, head_dim), jnp.bfloat16) for key in keys)
    segments = jnp.array([[1] * length, [1] * 100 + [0] * 28], jnp.int32)
    mask = attention_mask(segments, segments, causal=causal)
    scale = head_dim**-0.5
    expected = combine_values(
        attention_weights(*(x.astype(jnp.float32) for x in (q, k)), mask, None, scale), v.astype(jnp.float32)
    )
    out = fused_segment_attention(q, k, v, segments, segments, None, scale, "cudnn", causal=causal, packed=packed)
    real = np.asarray(segments, bool)
    error = np.abs(np.asarray(out, np.float32) - np.asarray(expected))[real]
    assert error.max() < 2e-2


def test_decoder_bf16_cudnn_close_to_fp32_reference():
    tokens = jax.random.randint(jax.random.key(1), (2, 64), 1, 2048)
    fp32 = build_model(load_config("gpt2_tiny", ["model.attention_impl=reference"]).model)
    bf16 = build_model(load_config("gpt2_tiny", ["model.attention_impl=cudnn", "model.dtype=bfloat16"]).model)
    expected = np.asarray(fp32(tokens)["logits"])
    logits = bf16(tokens)["logits"]
    assert logits.dtype == jnp.float32
    scale = np.abs(expected).max()
    assert np.abs(np.asarray(logits) - expected).max() < 3e-2 * scale
