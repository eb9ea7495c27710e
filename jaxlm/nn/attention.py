"""Multi-head attention (self or cross) with an optional KV cache for incremental decoding."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.errors import JaxlmError
from jaxlm.nn.attention_core import attention_weights, combine_values, fused_attention, fused_segment_attention
from jaxlm.nn.dense import Dense
from jaxlm.nn.hooks import current_hooks
from jaxlm.nn.init import kernel_std, query_std
from jaxlm.nn.masks import attention_mask
from jaxlm.nn.params import canonical_dtype
from jaxlm.nn.positions import apply_rotary
from jaxlm.parallel.constraints import constrain

HEAD_AXES = ("batch", "length", "heads", "kv")


class KVCache(NamedTuple):
    """Keys and values of the tokens decoded so far, one per self-attention layer.

    key, value: [b, max_length, heads, head_dim]; segments: [b, max_length] (0 = empty slot);
    index: [] the number of filled slots (the slot of the next token). Under a scanned stack
    every field gains a leading [layers] axis.
    """

    key: jax.Array
    value: jax.Array
    segments: jax.Array
    index: jax.Array

    @classmethod
    def zeros(cls, batch: int, max_length: int, num_heads: int, head_dim: int, dtype: jnp.dtype) -> KVCache:
        shape = (batch, max_length, num_heads, head_dim)
        return cls(
            key=jnp.zeros(shape, dtype), value=jnp.zeros(shape, dtype),
            segments=jnp.zeros((batch, max_length), jnp.int32), index=jnp.zeros((), jnp.int32),
        )


class MultiHeadAttention(nnx.Module):
    """out = concat_h(softmax(scale · q_h k_hᵀ + bias, mask) v_h) W_o, with q = x W_q,
    k = s W_k, v = s W_v, where s = x (self-attention) or the encoder output (cross-attention).

    Shapes: x [b, lq, d_model] → q [b, lq, heads, head_dim]; s [b, lk, d_model] → k, v
    [b, lk, heads, head_dim]; out [b, lq, d_model]. Projections have logical axes
    ('embed', 'heads') in and ('heads', 'embed') out. scale = head_dim^-½ unless
    `scale_attention` is off (T5 folds it into the initialisation). Rotary positions, when
    configured, rotate q and k of self-attention only.

    With a `KVCache`, the new keys and values are written at slots [index, index + lq) and the
    queries attend over every filled slot; the updated cache is returned. Full-sequence
    self-attention goes through an installed context-parallel hook (`jaxlm.nn.hooks`) if any.

    `packed=False` promises that each row holds one document followed by its padding (segments
    1…1 0…0): the fused cores then get causality and sequence lengths instead of a dense mask.
    """

    def __init__(self, cfg: ModelConfig, *, causal: bool, rngs: nnx.Rngs, cross: bool = False):
        dtype, param_dtype = canonical_dtype(cfg.dtype), canonical_dtype(cfg.param_dtype)
        self.num_heads = cfg.num_heads
        self.head_dim = cfg.resolved_head_dim
        inner = self.num_heads * self.head_dim
        self.causal = causal
        self.rotary_base = cfg.rotary_base if cfg.position == "rotary" and not cross else None
        self.scale = 1.0 / math.sqrt(self.head_dim) if cfg.scale_attention else 1.0
        self.impl = cfg.attention_impl
        self.record_weights = False

        def projection(fan_in: int, fan_out: int, axes: tuple[str, str], std: float | None = None) -> Dense:
            return Dense(
                fan_in, fan_out, axes=axes, rngs=rngs, use_bias=cfg.use_bias,
                init_std=kernel_std(cfg, fan_in) if std is None else std, dtype=dtype, param_dtype=param_dtype,
            )

        self.query = projection(cfg.d_model, inner, ("embed", "heads"), query_std(cfg))
        self.key = projection(cfg.d_model, inner, ("embed", "heads"))
        self.value = projection(cfg.d_model, inner, ("embed", "heads"))
        self.output = projection(inner, cfg.d_model, ("heads", "embed"))
        self.dropout = nnx.Dropout(cfg.attention_dropout_rate, rngs=rngs)

    def _split_heads(self, x: jax.Array) -> jax.Array:
        return x.reshape(*x.shape[:2], self.num_heads, self.head_dim)

    def __call__(
        self,
        x: jax.Array,
        segments: jax.Array,
        *,
        context: jax.Array | None = None,
        context_segments: jax.Array | None = None,
        positions: jax.Array | None = None,
        bias: jax.Array | None = None,
        cache: KVCache | None = None,
        deterministic: bool = True,
        packed: bool = True,
    ) -> tuple[jax.Array, KVCache | None]:
        batch, length, _ = x.shape
        source, source_segments = (x, segments) if context is None else (context, context_segments)
        q, k, v = (
            constrain(self._split_heads(projection(s)), HEAD_AXES)
            for projection, s in ((self.query, x), (self.key, source), (self.value, source))
        )
        if self.rotary_base is not None:
            q = apply_rotary(q, positions, self.rotary_base)
            k = apply_rotary(k, positions, self.rotary_base)

        split_sequence = current_hooks().context
        if split_sequence is not None and cache is None and context is None:
            if bias is not None:
                raise JaxlmError("context parallelism does not split relative position bias; set parallel.context=1")
            out = split_sequence.attend(q, k, v, segments, causal=self.causal, scale=self.scale)
            return self.output(out.reshape(batch, length, self.num_heads * self.head_dim)), cache

        offset = 0
        if cache is not None:
            offset = cache.index
            k = jax.lax.dynamic_update_slice(cache.key, k.astype(cache.key.dtype), (0, offset, 0, 0))
            v = jax.lax.dynamic_update_slice(cache.value, v.astype(cache.value.dtype), (0, offset, 0, 0))
            source_segments = jax.lax.dynamic_update_slice(
                cache.segments, source_segments.astype(jnp.int32), (0, offset)
            )
            cache = KVCache(k, v, source_segments, cache.index + length)
            k, v = k.astype(q.dtype), v.astype(q.dtype)

        if self.impl != "reference" and cache is None:
            out = fused_segment_attention(
                q, k, v, segments, source_segments, bias, self.scale, self.impl, causal=self.causal, packed=packed
            )
        else:
            mask = attention_mask(segments, source_segments, causal=self.causal, query_offset=offset)
            if self.impl == "reference":
                weights = attention_weights(q, k, mask, bias, self.scale)
                if self.record_weights:
                    self.sow(nnx.Intermediate, "attention_weights", weights)
                weights = self.dropout(weights, deterministic=deterministic)
                out = combine_values(weights, v)
            else:
                out = fused_attention(q, k, v, bias, self.scale, self.impl, mask=mask)
        return self.output(out.reshape(batch, length, self.num_heads * self.head_dim)), cache
