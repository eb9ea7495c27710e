"""The exact GELU and its derivative against float64 references, inside and outside shard_map."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxlm.nn.feed_forward import gelu

X = np.linspace(-6.0, 6.0, 64)


def reference_gelu(x: np.ndarray) -> np.ndarray:
    return np.array([v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x])


def test_gelu_and_its_derivative_match_float64_references():
    np.testing.assert_allclose(gelu(X.astype(np.float32)), reference_gelu(X), rtol=1e-6, atol=1e-6)
    step = 1e-5  # central differences of the float64 reference: independent of the analytic rule
    slope = (reference_gelu(X + step) - reference_gelu(X - step)) / (2 * step)
    np.testing.assert_allclose(jax.vmap(jax.grad(gelu))(X.astype(np.float32)), slope, rtol=1e-5, atol=1e-6)


def test_gelu_gradient_inside_shard_map_equals_one_device():
    """A pipeline stage runs its blocks under shard_map: the gradient must trace there (it did not
    with jax.nn.gelu on jax 0.12) and equal the unsharded one."""
    mesh = jax.make_mesh((2,), ("stage",))
    x = jnp.asarray(X.reshape(2, 32), jnp.float32)

    def staged(v):
        return jax.shard_map(gelu, mesh=mesh, in_specs=P("stage"), out_specs=P("stage"))(v).sum()

    sharded = jax.jit(jax.grad(staged))(jax.device_put(x, NamedSharding(mesh, P("stage"))))
    np.testing.assert_allclose(sharded, jax.grad(lambda v: gelu(v).sum())(x), rtol=1e-6)
