"""Weighted cross-entropy losses and their metrics, in float32 (pure functions of model outputs).

For logits z [..., V], integer targets y [...] and weights w [...] (0 on padding):
    nll = logsumexp(z) - z[y]
    mlm / token loss = Σ w · nll / (Σ w + ε)      ε = 1e-5 (BERT's denominator)
    accuracy         = Σ w · [argmax z = y] / (Σ w + ε)
    perplexity       = exp(token loss)
NSP and classification losses are the mean cross-entropy over the batch rows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

EPSILON = 1e-5


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """[...] negative log-likelihood of `targets` under `logits` [..., V], in float32."""
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.take_along_axis(log_probs, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]


def weighted_cross_entropy(logits: jax.Array, targets: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(Σ w·nll / (Σ w + ε), weighted accuracy)."""
    weights = weights.astype(jnp.float32)
    total = jnp.sum(weights) + EPSILON
    loss = jnp.sum(weights * token_nll(logits, targets)) / total
    correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
    return loss, jnp.sum(weights * correct) / total


def mean_cross_entropy(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean nll, accuracy) over rows of `logits` [b, C] and `labels` [b]."""
    loss = jnp.mean(token_nll(logits, labels))
    accuracy = jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
    return loss, accuracy
