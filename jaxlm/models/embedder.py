"""Input embedding shared by every family: tokens, positions, token types, norm, dropout."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.nn.embed import Embed
from jaxlm.nn.norms import norm_from_config
from jaxlm.nn.params import canonical_dtype
from jaxlm.nn.positions import LearnedPositions, sinusoidal_positions


class InputEmbedder(nnx.Module):
    """x = E[tokens] + P(positions) + T[token_types], then an optional norm (BERT) and dropout.

    tokens, positions, token_types: [b, l] → x: [b, l, d_model]. P is a learned table or the
    fixed sinusoids; rotary and relative positions act inside attention instead, so they add
    nothing here. `token` doubles as the tied output projection.
    """

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        dtype, param_dtype = canonical_dtype(cfg.dtype), canonical_dtype(cfg.param_dtype)
        self.d_model = cfg.d_model
        self.dtype = dtype
        self.sinusoidal = cfg.position == "sinusoidal"
        self.token = Embed(
            cfg.vocab_size, cfg.d_model, rngs=rngs, init_std=cfg.init_std, dtype=dtype, param_dtype=param_dtype
        )
        self.positions = (
            LearnedPositions(
                cfg.max_length, cfg.d_model, rngs=rngs, init_std=cfg.init_std, dtype=dtype, param_dtype=param_dtype
            )
            if cfg.position == "learned" else None
        )
        self.token_types = (
            Embed(cfg.type_vocab_size, cfg.d_model, rngs=rngs, init_std=cfg.init_std, dtype=dtype,
                  param_dtype=param_dtype)
            if cfg.type_vocab_size else None
        )
        self.norm = norm_from_config(cfg, rngs) if cfg.embed_norm else None
        self.dropout = nnx.Dropout(cfg.dropout_rate, rngs=rngs)

    def __call__(
        self,
        tokens: jax.Array,
        positions: jax.Array,
        token_types: jax.Array | None = None,
        *,
        deterministic: bool = True,
    ) -> jax.Array:
        x = self.token(tokens)
        if self.positions is not None:
            x = x + self.positions(positions)
        elif self.sinusoidal:
            x = x + sinusoidal_positions(positions, self.d_model, self.dtype)
        if self.token_types is not None:
            x = x + self.token_types(jnp.zeros_like(tokens) if token_types is None else token_types)
        if self.norm is not None:
            x = self.norm(x)
        return self.dropout(x, deterministic=deterministic)


def default_segments(tokens: jax.Array, segments: jax.Array | None) -> jax.Array:
    """Segments default to 1 everywhere: one unpadded document per row."""
    return jnp.ones_like(tokens, dtype=jnp.int32) if segments is None else segments


def default_positions(tokens: jax.Array, positions: jax.Array | None, offset: jax.Array | int = 0) -> jax.Array:
    """Positions default to offset + 0, 1, 2, … along each row."""
    if positions is not None:
        return positions
    return jnp.broadcast_to(offset + jnp.arange(tokens.shape[1]), tokens.shape)
