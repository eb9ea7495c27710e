"""Token embedding table, usable as the tied output projection."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.nn.params import make_param


class Embed(nnx.Module):
    """A lookup table E: [num_embeddings, features] with logical axes ('vocab', 'embed').

    `__call__`: ids [...] → E[ids]: [..., features].
    `attend`:   x [..., features] → x Eᵀ: [..., num_embeddings] (tied output logits).
    """

    def __init__(
        self,
        num_embeddings: int,
        features: int,
        *,
        rngs: nnx.Rngs,
        init_std: float = 0.02,
        dtype: jnp.dtype = jnp.float32,
        param_dtype: jnp.dtype = jnp.float32,
    ):
        self.num_embeddings = num_embeddings
        self.features = features
        self.dtype = dtype
        self.embedding = make_param(
            rngs, nnx.initializers.normal(init_std), (num_embeddings, features), ("vocab", "embed"), param_dtype
        )

    def __call__(self, ids: jax.Array) -> jax.Array:
        return jnp.take(self.embedding[...], ids, axis=0).astype(self.dtype)

    def attend(self, x: jax.Array) -> jax.Array:
        return jnp.dot(x.astype(self.dtype), self.embedding[...].astype(self.dtype).T)
