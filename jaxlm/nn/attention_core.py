"""Scaled dot-product attention cores: the explicit reference, XLA's, and cuDNN's fused kernel.

For queries q: [b, lq, h, d], keys k and values v: [b, lk, h, d], a boolean mask
[b, 1 | h, lq, lk] and an optional additive bias [1 | b, h, lq, lk]:

    scores  = scale · q kᵀ + bias                     [b, h, lq, lk]   (float32)
    weights = softmax(where(mask, scores, −∞))        over lk
    out     = weights v                               [b, lq, h, d]

Masked scores use the most negative finite float, so a fully masked row (a padding query)
yields finite, ignorable outputs rather than NaN.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp

Impl = Literal["reference", "xla", "cudnn"]


def attention_weights(
    q: jax.Array, k: jax.Array, mask: jax.Array | None, bias: jax.Array | None, scale: float
) -> jax.Array:
    """softmax(scale · q kᵀ + bias, masked) in float32: [b, h, lq, lk]."""
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32) * scale
    if bias is not None:
        scores = scores + bias.astype(jnp.float32)
    if mask is not None:
        scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
    return jax.nn.softmax(scores, axis=-1)


def combine_values(weights: jax.Array, v: jax.Array) -> jax.Array:
    """weights [b, h, lq, lk] · v [b, lk, h, d] → [b, lq, h, d] in v's dtype."""
    return jnp.einsum("bhqk,bkhd->bqhd", weights.astype(v.dtype), v)


def fused_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None, bias: jax.Array | None,
    scale: float, impl: Literal["xla", "cudnn"],
) -> jax.Array:
    """The same computation through `jax.nn.dot_product_attention` (no weights materialised
    by the caller; 'cudnn' needs a GPU and float16/bfloat16 inputs)."""
    if bias is not None:
        bias = bias.astype(q.dtype)
    return jax.nn.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=scale, implementation=impl)
