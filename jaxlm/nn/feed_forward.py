"""Position-wise feed-forward network, plain or gated."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.nn.dense import Dense
from jaxlm.nn.init import kernel_std
from jaxlm.nn.params import canonical_dtype
from jaxlm.parallel.constraints import constrain


@jax.custom_jvp
def gelu(x: jax.Array) -> jax.Array:
    """Exact GELU: gelu(x) = x Φ(x), Φ the standard normal CDF (BERT's activation). Elementwise.

    The derivative is given here, d/dx gelu(x) = Φ(x) + x φ(x) with φ(x) = exp(-x²/2) / √(2π),
    because jax 0.12 differentiates erf through a `polynomial` primitive whose constant
    coefficients carry no varying manual axes: the gradient of `jax.nn.gelu` inside a
    `shard_map` (the pipeline's stages) then fails to trace.
    """
    return jax.nn.gelu(x, approximate=False)


@gelu.defjvp
def _gelu_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (x,), (x_dot,) = primals, tangents
    cdf = 0.5 * jax.lax.erfc(-x * math.sqrt(0.5))
    density = jnp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return gelu(x), x_dot * (cdf + x * density).astype(x_dot.dtype)


ACTIVATIONS = {
    "relu": jax.nn.relu,
    "gelu": gelu,
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "silu": jax.nn.silu,
}


class FeedForward(nnx.Module):
    """Plain:  y = act(x W_i + b_i) W_o + b_o.
    Gated:  y = (act(x W_0) ⊙ (x W_1)) W_o   (GeGLU with gelu, SwiGLU with silu; T5 v1.1).

    x: [b, l, d_model] → hidden [b, l, d_ff] → y: [b, l, d_model]. Input kernels have logical
    axes ('embed', 'mlp'), the output kernel ('mlp', 'embed').
    """

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        dtype, param_dtype = canonical_dtype(cfg.dtype), canonical_dtype(cfg.param_dtype)
        self.activation = ACTIVATIONS[cfg.activation]

        def dense(fan_in: int, fan_out: int, axes: tuple[str, str]) -> Dense:
            return Dense(
                fan_in, fan_out, axes=axes, rngs=rngs, use_bias=cfg.use_bias, init_std=kernel_std(cfg, fan_in),
                dtype=dtype, param_dtype=param_dtype,
            )

        self.wi_0 = dense(cfg.d_model, cfg.d_ff, ("embed", "mlp"))
        self.wi_1 = dense(cfg.d_model, cfg.d_ff, ("embed", "mlp")) if cfg.gated else None
        self.wo = dense(cfg.d_ff, cfg.d_model, ("mlp", "embed"))

    def __call__(self, x: jax.Array) -> jax.Array:
        hidden = self.activation(self.wi_0(x))
        if self.wi_1 is not None:
            hidden = hidden * self.wi_1(x)
        return self.wo(constrain(hidden, ("batch", "length", "mlp")))
