"""Dense (affine) layer."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.nn.params import make_param


class Dense(nnx.Module):
    """y = x W (+ b).

    x: [..., in_features] → y: [..., out_features]; W: [in_features, out_features] with logical
    axes `axes`, b: [out_features] with axis `axes[1]`. Computation runs in `dtype` (weights are
    cast at use), parameters are stored in `param_dtype`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        axes: Sequence[str],
        rngs: nnx.Rngs,
        use_bias: bool = True,
        init_std: float = 0.02,
        dtype: jnp.dtype = jnp.float32,
        param_dtype: jnp.dtype = jnp.float32,
    ):
        self.in_features = in_features
        self.out_features = out_features
        self.dtype = dtype
        self.kernel = make_param(
            rngs, nnx.initializers.normal(init_std), (in_features, out_features), axes, param_dtype
        )
        self.bias = (
            make_param(rngs, nnx.initializers.zeros, (out_features,), axes[1:], param_dtype)
            if use_bias else None
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.dot(x.astype(self.dtype), self.kernel[...].astype(self.dtype))
        if self.bias is not None:
            y = y + self.bias[...].astype(self.dtype)
        return y
