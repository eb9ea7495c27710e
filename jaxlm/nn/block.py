"""The transformer block shared by every family: self-attention, optional cross-attention,
feed-forward, each wrapped in a residual connection with pre- or post-normalisation.

Activations carry two logical names for their sequence axis: the residual stream (norms,
dropout, residual adds) is [batch, residual_length, embed], the input and output of each
sub-layer (attention, feed-forward) [batch, length, embed]. A rule table maps both the same
way unless it turns on Megatron sequence parallelism, where `residual_length` is also split over
the tensor axis: the constraint into a sub-layer then becomes an all-gather of the sequence and
the one out of it a reduce-scatter, in place of tensor parallelism's all-reduce.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.nn.attention import KVCache, MultiHeadAttention
from jaxlm.nn.feed_forward import FeedForward
from jaxlm.nn.norms import norm_from_config
from jaxlm.parallel.constraints import constrain

RESIDUAL_AXES = ("batch", "residual_length", "embed")
SUBLAYER_AXES = ("batch", "length", "embed")


class TransformerBlock(nnx.Module):
    """One layer. With f a sub-layer (attention or feed-forward) and N its norm:

        pre-LN  (GPT-2, T5):  x ← x + dropout(f(N(x)))
        post-LN (BERT):       x ← N(x + dropout(f(x)))

    applied to self-attention (causal in decoders), then cross-attention over the encoder
    output (encoder–decoder only), then the feed-forward. x: [b, l, d_model] throughout.
    """

    def __init__(self, cfg: ModelConfig, *, causal: bool, cross: bool, rngs: nnx.Rngs):
        self.pre_norm = cfg.norm_position == "pre"
        self.self_attention = MultiHeadAttention(cfg, causal=causal, rngs=rngs)
        self.self_attention_norm = norm_from_config(cfg, rngs)
        self.cross_attention = MultiHeadAttention(cfg, causal=False, cross=True, rngs=rngs) if cross else None
        self.cross_attention_norm = norm_from_config(cfg, rngs) if cross else None
        self.feed_forward = FeedForward(cfg, rngs=rngs)
        self.feed_forward_norm = norm_from_config(cfg, rngs)
        self.dropout = nnx.Dropout(cfg.dropout_rate, rngs=rngs)

    def _residual(
        self, x: jax.Array, norm: nnx.Module, sublayer: Callable[[jax.Array], jax.Array], deterministic: bool
    ) -> jax.Array:
        def residual_branch(h: jax.Array) -> jax.Array:  # [b, residual_length, d] → the same
            return constrain(sublayer(constrain(h, SUBLAYER_AXES)), RESIDUAL_AXES)

        if self.pre_norm:
            return x + self.dropout(residual_branch(norm(x)), deterministic=deterministic)
        return norm(x + self.dropout(residual_branch(x), deterministic=deterministic))

    def __call__(
        self,
        x: jax.Array,
        segments: jax.Array,
        *,
        positions: jax.Array | None = None,
        bias: jax.Array | None = None,
        context: jax.Array | None = None,
        context_segments: jax.Array | None = None,
        cache: KVCache | None = None,
        deterministic: bool = True,
        packed: bool = True,
    ) -> tuple[jax.Array, KVCache | None]:
        updated = [cache]

        def self_attend(h: jax.Array) -> jax.Array:
            out, updated[0] = self.self_attention(
                h, segments, positions=positions, bias=bias, cache=cache, deterministic=deterministic, packed=packed
            )
            return out

        x = self._residual(x, self.self_attention_norm, self_attend, deterministic)
        if self.cross_attention is not None:
            def cross_attend(h: jax.Array) -> jax.Array:
                out, _ = self.cross_attention(
                    h, segments, context=context, context_segments=context_segments, deterministic=deterministic,
                    packed=packed,
                )
                return out

            x = self._residual(x, self.cross_attention_norm, cross_attend, deterministic)
        x = self._residual(x, self.feed_forward_norm, self.feed_forward, deterministic)
        return x, updated[0]
