"""Building blocks written from `nnx.Module`, `nnx.Param` and `jnp`: each file one concept."""
