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

from jaxlm.nn.masks import attention_mask, sequence_lengths

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
    q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array | None, scale: float, impl: Literal["xla", "cudnn"],
    *, mask: jax.Array | None = None, is_causal: bool = False, query_lengths: jax.Array | None = None,
    key_lengths: jax.Array | None = None,
) -> jax.Array:
    """The same computation through `jax.nn.dot_product_attention` (no weights materialised
    by the caller; 'cudnn' needs a GPU and float16/bfloat16 inputs).

    The mask can be given as structure instead of a dense array: `is_causal` (key slot ≤ query
    slot) and `query_lengths` / `key_lengths` [b] (the first n slots of a row are real, the rest
    padding). cuDNN then skips the blocks above the diagonal and past the lengths rather than
    reading a [b, 1, lq, lk] mask; a dense `mask` may still be added (packed documents).
    """
    if bias is not None:
        bias = bias.astype(q.dtype)
    return jax.nn.dot_product_attention(
        q, k, v, bias=bias, mask=mask, scale=scale, is_causal=is_causal, query_seq_lengths=query_lengths,
        key_value_seq_lengths=key_lengths, implementation=impl,
    )


def fused_segment_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, query_segments: jax.Array, key_segments: jax.Array,
    bias: jax.Array | None, scale: float, impl: Literal["xla", "cudnn"], *, causal: bool, packed: bool,
) -> jax.Array:
    """`fused_attention` under the segment rule of `masks.attention_mask` (no KV cache).

    Rows of one document followed by padding (`packed=False`) need no dense mask: causality and
    the sequence lengths say it all. Packed rows add the dense mask, which keeps documents apart;
    `is_causal` still lets a causal kernel skip the blocks above the diagonal.
    """
    if packed:
        mask = attention_mask(query_segments, key_segments, causal=causal)
        return fused_attention(q, k, v, bias, scale, impl, mask=mask, is_causal=causal)
    return fused_attention(
        q, k, v, bias, scale, impl, is_causal=causal,
        query_lengths=sequence_lengths(query_segments), key_lengths=sequence_lengths(key_segments),
    )
