"""Cross-entropy sums in float32, kept as (sum, weight) pairs so that any split of a batch adds up
exactly (pure functions of model outputs).

For logits z [..., C], integer targets y [...] and weights w [...] (0 on padding):
    nll      = logsumexp(z) - z[y]
    sums     = (Σ w · nll,  Σ w · [z[y] > z[c] for every c ≠ y],  Σ w)
    value    = sum / max(Σ w, ε)    ε = 1e-5 (an empty batch gives 0, not NaN)
The loss of a batch is the value of the nll sum; a metric is the value of its pair after the
pairs of every part of the batch (microbatches, eval batches) were added up.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

EPSILON = 1e-5

Pair = tuple[jax.Array, jax.Array]


def cross_entropy_sums(logits: jax.Array, targets: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(Σ w·nll, Σ w·correct) over every target; float32 scalars.

    nll = m + log Σ exp(z - m) - z[y] with m = max z, and a prediction is correct when no other
    class scores as high as the target (a tie is not correct). Three passes over the [..., C]
    logits (max, sum of exponentials, comparison): on a CPU, log-softmax plus argmax cost about
    three times as much at GPT-2's vocabulary.
    """
    logits = logits.astype(jnp.float32)
    weights = weights.astype(jnp.float32)
    target_logits = jnp.take_along_axis(logits, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
    top = jax.lax.stop_gradient(jnp.max(logits, axis=-1))  # only shifts the exponent: no gradient
    nll = top + jnp.log(jnp.sum(jnp.exp(logits - top[..., None]), axis=-1)) - target_logits
    as_high = jnp.sum(logits >= target_logits[..., None], axis=-1)  # the target itself, plus any rival
    correct = (as_high == 1).astype(jnp.float32)
    return jnp.sum(weights * nll), jnp.sum(weights * correct)


def ratio(total: jax.Array, weight: jax.Array) -> jax.Array:
    """total / max(weight, ε): a weighted mean, 0 when nothing is weighted."""
    return total / jnp.maximum(weight, EPSILON)
