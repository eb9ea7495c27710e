"""Layer normalisation and root-mean-square normalisation, computed in float32."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.nn.params import canonical_dtype, make_param


class LayerNorm(nnx.Module):
    """y = (x − mean(x)) / sqrt(var(x) + eps) · γ + β, over the last axis.

    x: [..., features]; γ, β: [features] with logical axis 'embed'. Statistics in float32,
    the result cast back to `dtype`.
    """

    def __init__(
        self, features: int, *, rngs: nnx.Rngs, eps: float = 1e-5, use_bias: bool = True,
        dtype: jnp.dtype = jnp.float32, param_dtype: jnp.dtype = jnp.float32,
    ):
        self.eps = eps
        self.dtype = dtype
        self.scale = make_param(rngs, nnx.initializers.ones, (features,), ("embed",), param_dtype)
        self.bias = (
            make_param(rngs, nnx.initializers.zeros, (features,), ("embed",), param_dtype) if use_bias else None
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        mean = jnp.mean(x32, axis=-1, keepdims=True)
        variance = jnp.mean(jnp.square(x32 - mean), axis=-1, keepdims=True)
        y = (x32 - mean) * jax.lax.rsqrt(variance + self.eps) * self.scale[...].astype(jnp.float32)
        if self.bias is not None:
            y = y + self.bias[...].astype(jnp.float32)
        return y.astype(self.dtype)


class RMSNorm(nnx.Module):
    """y = x / sqrt(mean(x²) + eps) · γ, over the last axis (no centring, no bias; T5).

    x: [..., features]; γ: [features] with logical axis 'embed'. Computed in float32.
    """

    def __init__(
        self, features: int, *, rngs: nnx.Rngs, eps: float = 1e-6,
        dtype: jnp.dtype = jnp.float32, param_dtype: jnp.dtype = jnp.float32,
    ):
        self.eps = eps
        self.dtype = dtype
        self.scale = make_param(rngs, nnx.initializers.ones, (features,), ("embed",), param_dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        mean_square = jnp.mean(jnp.square(x32), axis=-1, keepdims=True)
        y = x32 * jax.lax.rsqrt(mean_square + self.eps) * self.scale[...].astype(jnp.float32)
        return y.astype(self.dtype)


def norm_from_config(cfg: ModelConfig, rngs: nnx.Rngs) -> LayerNorm | RMSNorm:
    """The normalisation layer the model config names ('layernorm' or 'rmsnorm')."""
    dtype, param_dtype = canonical_dtype(cfg.dtype), canonical_dtype(cfg.param_dtype)
    if cfg.norm == "rmsnorm":
        return RMSNorm(cfg.d_model, rngs=rngs, eps=cfg.norm_eps, dtype=dtype, param_dtype=param_dtype)
    return LayerNorm(cfg.d_model, rngs=rngs, eps=cfg.norm_eps, dtype=dtype, param_dtype=param_dtype)
