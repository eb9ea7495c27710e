"""One mask path for every kind of attention.

Each token carries a segment id: 0 for padding, and for real tokens the id of the document it
belongs to (1 everywhere for an unpacked row). Query i may attend key j iff

    segment[j] ≠ 0  and  segment_q[i] = segment_k[j]  (and, if causal, slot[j] ≤ slot[i]).

That single rule gives padding masks (pads have segment 0), packed-sequence masks (documents have
different ids), causal masks, and cross-attention masks (decoder and encoder rows share ids).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def attention_mask(
    query_segments: jax.Array,
    key_segments: jax.Array,
    *,
    causal: bool,
    query_offset: jax.Array | int = 0,
) -> jax.Array:
    """query_segments: [b, lq]; key_segments: [b, lk] → bool mask [b, 1, lq, lk].

    `query_offset` is the slot of the first query among the keys (the KV-cache index when
    decoding), so causality compares absolute slots.
    """
    same_segment = query_segments[:, :, None] == key_segments[:, None, :]
    key_is_real = (key_segments != 0)[:, None, :]
    mask = same_segment & key_is_real
    if causal:
        query_slots = query_offset + jnp.arange(query_segments.shape[1])
        key_slots = jnp.arange(key_segments.shape[1])
        mask = mask & (key_slots[None, :] <= query_slots[:, None])[None]
    return mask[:, None]


def sequence_lengths(segments: jax.Array) -> jax.Array:
    """[b, l] segments → [b] int32 count of real (non-padding) slots: the row's length when it
    holds one document followed by its padding."""
    return jnp.sum(segments != 0, axis=-1, dtype=jnp.int32)
