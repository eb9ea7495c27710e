"""Next-token selection from logits: greedy, temperature, top-k and top-p (nucleus), composable.

Every function is pure `jnp` over logits [b, V] (float) and takes an explicit PRNG key, so it
runs inside `jax.jit` / `lax.while_loop` and the same key always draws the same tokens.

The filters compose in the usual order (as in most LM toolkits):

    z = logits / temperature → keep the k largest → keep the nucleus → sample softmax(z)

A filtered-out token gets logit −∞ and so probability exactly 0. temperature = 0 means greedy
(argmax), the limit of sampling as the temperature goes to 0.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxlm.errors import JaxlmError

NEG_INF = -jnp.inf


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """temperature: 0 for greedy, else the softmax temperature (> 0).
    top_k: keep only the k most likely tokens (0 = off). top_p: keep the smallest set of most
    likely tokens whose probability sums to at least p (1.0 = off).
    Frozen and hashable, so it can be a static argument of a jitted function."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise JaxlmError(f"temperature={self.temperature} must be >= 0 (0 means greedy)")
        if self.top_k < 0:
            raise JaxlmError(f"top_k={self.top_k} must be >= 0 (0 means off)")
        if not 0.0 < self.top_p <= 1.0:
            raise JaxlmError(f"top_p={self.top_p} must be in (0, 1] (1 means off)")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def greedy(logits: jax.Array) -> jax.Array:
    """argmax over the vocabulary: logits [b, V] → tokens [b] int32."""
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def apply_temperature(logits: jax.Array, temperature: float) -> jax.Array:
    """logits / temperature in float32 (temperature > 0)."""
    return logits.astype(jnp.float32) / temperature


def top_k_filter(logits: jax.Array, k: int) -> jax.Array:
    """Keep exactly the k largest logits of each row (ties broken by index), −∞ elsewhere.

    logits [b, V] → [b, V]. k ≥ V leaves the logits unchanged.
    """
    vocab = logits.shape[-1]
    if k <= 0 or k >= vocab:
        return logits
    _, indices = jax.lax.top_k(logits, k)  # [b, k]
    keep = jnp.zeros(logits.shape, bool).at[jnp.arange(logits.shape[0])[:, None], indices].set(True)
    return jnp.where(keep, logits, NEG_INF)


def top_p_filter(logits: jax.Array, p: float) -> jax.Array:
    """Nucleus filter: keep the smallest set of most likely tokens with total probability ≥ p.

    Sort the probabilities in decreasing order, π_1 ≥ π_2 ≥ …; token i (in sorted order) is kept
    iff the mass before it, Σ_{j<i} π_j, is below p — so the most likely token is always kept.
    logits [b, V] → [b, V] with −∞ outside the nucleus.
    """
    if p >= 1.0:
        return logits
    order = jnp.argsort(-logits, axis=-1)  # [b, V], most likely first
    sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
    probs = jax.nn.softmax(sorted_logits.astype(jnp.float32), axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    keep_sorted = mass_before < p
    keep = jnp.zeros(logits.shape, bool).at[jnp.arange(logits.shape[0])[:, None], order].set(keep_sorted)
    return jnp.where(keep, logits, NEG_INF)


def filter_logits(logits: jax.Array, config: SamplingConfig) -> jax.Array:
    """temperature → top-k → top-p: the logits a sampler draws from (config not greedy)."""
    z = apply_temperature(logits, config.temperature)
    z = top_k_filter(z, config.top_k)
    return top_p_filter(z, config.top_p)


def sample(logits: jax.Array, rng: jax.Array, config: SamplingConfig) -> jax.Array:
    """One token per row: logits [b, V] → tokens [b] int32. Greedy ignores `rng`."""
    if config.greedy:
        return greedy(logits)
    return jax.random.categorical(rng, filter_logits(logits, config), axis=-1).astype(jnp.int32)
