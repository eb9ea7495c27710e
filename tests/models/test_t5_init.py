"""T5 initialisation ('fan_in') follows transformers' T5 `_init_weights` (mesh-tensorflow's scheme):
every matrix's standard deviation within 10 %, and attention scores of unit scale at t5_small's
width instead of nearly one-hot."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from flax import nnx

from jaxlm.config import load_config
from jaxlm.interop import to_state_dict
from jaxlm.interop.hf_config import model_config_from_hf
from jaxlm.models import build_model
from jaxlm.nn.attention import MultiHeadAttention

T5 = {"vocab_size": 512, "d_model": 128, "d_kv": 32, "d_ff": 256, "num_layers": 2, "num_heads": 8,
      "relative_attention_num_buckets": 64}


@pytest.mark.parametrize("variant", ["relu", "gated-gelu"])
def test_every_matrix_starts_with_the_std_transformers_gives_it(variant):
    torch.manual_seed(0)
    config = transformers.T5Config(**T5, feed_forward_proj=variant, tie_word_embeddings=variant == "relu")
    hf = transformers.T5ForConditionalGeneration(config)
    theirs = {key: value.detach().numpy() for key, value in hf.state_dict().items()}
    cfg = model_config_from_hf(config.to_dict(), "T5ForConditionalGeneration", tied=variant == "relu")
    assert (cfg.init, cfg.init_std) == ("fan_in", 1.0)
    ours = to_state_dict(build_model(cfg, seed=0), include_tied=False)
    checked = 0
    for key, value in ours.items():
        if value.ndim == 2:
            np.testing.assert_allclose(value.std(), theirs[key].std(), rtol=0.1, err_msg=key)
            checked += 1
    assert checked >= 2 + 2 * (4 + 2) + 4 + (2 if variant == "relu" else 4)  # embeddings, attention, FFN


@pytest.mark.parametrize(("init", "init_std", "expected"), [("fixed", 0.05, 0.05**2 * 512 * 8), ("fan_in", 1.0, 1.0)])
def test_attention_scores_at_t5_small_width(init, init_std, expected):
    """t5_small: d_model 512, 8 heads of 64, unscaled attention, unit-variance inputs (as after
    RMSNorm). score = Σ_64 q·k with q, k ~ N(0, 512 · std_q²), N(0, 512 · std_k²): a fixed 0.05
    gives std 0.05² · 512 · 8 ≈ 10 (nearly one-hot rows); fan-in scaling gives 1."""
    cfg = dataclasses.replace(load_config("t5_small").model, init=init, init_std=init_std, num_layers=1)
    attention = MultiHeadAttention(cfg, causal=False, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (4, 64, cfg.d_model))
    q = (x @ attention.query.kernel[...]).reshape(4, 64, cfg.num_heads, -1)
    k = (x @ attention.key.kernel[...]).reshape(4, 64, cfg.num_heads, -1)
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k)
    np.testing.assert_allclose(float(scores.std()), expected, rtol=0.15)
    max_probability = float(jax.nn.softmax(scores, -1).max(-1).mean())
    assert max_probability > 0.6 if init == "fixed" else max_probability < 0.2
