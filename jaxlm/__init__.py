"""jaxlm: a from-scratch transformer engine in JAX and Flax NNX."""
