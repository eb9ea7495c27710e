"""jaxlm: a from-scratch transformer engine in JAX and Flax NNX."""

__version__ = "0.1.0"
