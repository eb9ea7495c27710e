"""Parameter creation with logical axis names, and the compute-dtype helpers.

Every weight in jaxlm is an `nnx.Param` whose `out_sharding` metadata holds one logical axis
name per dimension, drawn from `LOGICAL_AXES`. The model never names mesh axes: a rule table in
`jaxlm.parallel` maps logical names to mesh axes. Eager sharding is off for our parameters so a
model can be built without a mesh; `jaxlm.parallel` shards it afterwards (or at creation under
`jax.jit` with output shardings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

LOGICAL_AXES = ("batch", "length", "embed", "heads", "kv", "mlp", "vocab", "layers", "relpos_buckets")

Initializer = Callable[[jax.Array, Sequence[int], jnp.dtype], jax.Array]


def make_param(
    rngs: nnx.Rngs,
    initializer: Initializer,
    shape: Sequence[int],
    axes: Sequence[str | None],
    dtype: jnp.dtype,
) -> nnx.Param:
    """A parameter of `shape` drawn from `initializer`, annotated with logical `axes`."""
    if len(axes) != len(shape):
        raise ValueError(f"axes {tuple(axes)} do not match shape {tuple(shape)}")
    unknown = [a for a in axes if a not in LOGICAL_AXES]
    if unknown:
        raise ValueError(f"logical axes {unknown} are not in the vocabulary {LOGICAL_AXES}")
    value = initializer(rngs.params(), tuple(shape), dtype)
    return nnx.Param(value, out_sharding=tuple(axes), eager_sharding=False)


def canonical_dtype(name: str) -> jnp.dtype:
    """'float32' | 'bfloat16' | 'float16' → the jnp dtype."""
    return jnp.dtype(name)
