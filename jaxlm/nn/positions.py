"""Position information: learned tables, sinusoids, rotary embeddings, T5 relative buckets."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.nn.params import make_param


class LearnedPositions(nnx.Module):
    """A trained table P: [max_length, features] (BERT, GPT-2); positions [b, l] → P[positions]."""

    def __init__(
        self, max_length: int, features: int, *, rngs: nnx.Rngs, init_std: float = 0.02,
        dtype: jnp.dtype = jnp.float32, param_dtype: jnp.dtype = jnp.float32,
    ):
        self.dtype = dtype
        self.embedding = make_param(
            rngs, nnx.initializers.normal(init_std), (max_length, features), ("length", "embed"), param_dtype
        )

    def __call__(self, positions: jax.Array) -> jax.Array:
        return jnp.take(self.embedding[...], positions, axis=0).astype(self.dtype)


def sinusoidal_positions(positions: jax.Array, features: int, dtype: jnp.dtype = jnp.float32) -> jax.Array:
    """The fixed encoding of "Attention Is All You Need":

        PE[p, 2i] = sin(p / 10000^(2i/d)),  PE[p, 2i+1] = cos(p / 10000^(2i/d)).

    positions: [b, l] integers → [b, l, features] (features must be even).
    """
    half = features // 2
    inverse_frequency = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=jnp.float32) * 2.0 / features)
    angles = positions.astype(jnp.float32)[..., None] * inverse_frequency  # [b, l, half]
    interleaved = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1)  # [b, l, half, 2]
    return interleaved.reshape(*positions.shape, 2 * half).astype(dtype)


def apply_rotary(x: jax.Array, positions: jax.Array, base: float = 10000.0) -> jax.Array:
    """Rotary position embedding (RoFormer), in the rotate-half layout.

    Channel pairs (j, j + d/2) of each head are rotated by the angle p·θ_j, θ_j = base^(−2j/d):

        x' = x · cos(pθ) + rotate_half(x) · sin(pθ),  rotate_half([a, b]) = [−b, a].

    so q·k depends on positions only through their difference.
    x: [b, l, heads, head_dim]; positions: [b, l] → same shape as x.
    """
    head_dim = x.shape[-1]
    half = head_dim // 2
    theta = base ** (-jnp.arange(half, dtype=jnp.float32) * 2.0 / head_dim)  # [half]
    angles = positions.astype(jnp.float32)[:, :, None, None] * theta  # [b, l, 1, half]
    cos = jnp.concatenate([jnp.cos(angles)] * 2, axis=-1)
    sin = jnp.concatenate([jnp.sin(angles)] * 2, axis=-1)
    x32 = x.astype(jnp.float32)
    rotated_half = jnp.concatenate([-x32[..., half:], x32[..., :half]], axis=-1)
    return (x32 * cos + rotated_half * sin).astype(x.dtype)


def relative_position_bucket(
    relative_position: jax.Array, *, bidirectional: bool, num_buckets: int, max_distance: int
) -> jax.Array:
    """T5's bucketing of key_position − query_position into `num_buckets` integers.

    Bidirectional: half the buckets for keys after the query, half before. Within a half,
    distances below num_buckets/4 (/2 if causal) get a bucket each; larger ones share buckets
    spaced logarithmically up to `max_distance`, beyond which all fall in the last bucket.
    Causal: only distances to earlier keys are counted (later keys map to bucket 0).
    """
    bucket = jnp.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        bucket = bucket + (relative_position > 0).astype(relative_position.dtype) * num_buckets
        distance = jnp.abs(relative_position)
    else:
        distance = -jnp.minimum(relative_position, 0)
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    safe = jnp.maximum(distance, 1).astype(jnp.float32)
    log_ratio = jnp.log(safe / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (num_buckets - max_exact)).astype(relative_position.dtype)
    large = jnp.minimum(large, num_buckets - 1)
    return bucket + jnp.where(is_small, distance, large)


class RelativePositionBias(nnx.Module):
    """T5's learned scalar bias per (bucket, head), added to the attention scores.

    Table B: [num_buckets, heads] with logical axes ('relpos_buckets', 'heads').
    `__call__(query_positions [lq], key_positions [lk])` → bias [1, heads, lq, lk] with
    bias[0, h, i, j] = B[bucket(key_j − query_i), h].
    """

    def __init__(
        self, num_buckets: int, max_distance: int, num_heads: int, *, bidirectional: bool,
        rngs: nnx.Rngs, init_std: float = 0.02, param_dtype: jnp.dtype = jnp.float32,
    ):
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        self.embedding = make_param(
            rngs, nnx.initializers.normal(init_std), (num_buckets, num_heads),
            ("relpos_buckets", "heads"), param_dtype,
        )

    def __call__(self, query_positions: jax.Array, key_positions: jax.Array) -> jax.Array:
        relative = key_positions[None, :] - query_positions[:, None]  # [lq, lk]
        buckets = relative_position_bucket(
            relative, bidirectional=self.bidirectional,
            num_buckets=self.num_buckets, max_distance=self.max_distance,
        )
        values = jnp.take(self.embedding[...].astype(jnp.float32), buckets, axis=0)  # [lq, lk, h]
        return jnp.transpose(values, (2, 0, 1))[None]
