"""Token selection: filters keep exactly the right tokens, sampling never leaves them, greedy is
the zero-temperature limit, and a key fixes the draw."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.errors import JaxlmError
from jaxlm.infer.sampling import SamplingConfig, filter_logits, greedy, sample, top_k_filter, top_p_filter

B, V, DRAWS = 4, 50, 400


def random_logits(seed=0, scale=2.0):
    return jax.random.normal(jax.random.key(seed), (B, V)) * scale


@functools.partial(jax.jit, static_argnums=2)
def _draws(logits, keys, config):
    return jax.vmap(lambda key: sample(logits, key, config))(keys)


def draws(logits, config, seed=0, count=DRAWS):
    """`count` samples per row: [count, b]."""
    return np.asarray(_draws(logits, jax.random.split(jax.random.key(seed), count), config))


def nucleus_numpy(logits_row, p):
    """Smallest set of most likely tokens whose probability reaches p, by a plain loop."""
    probs = np.exp(logits_row - logits_row.max())
    probs /= probs.sum()
    chosen, mass = set(), 0.0
    for token in np.argsort(-probs):
        if mass >= p:
            break
        chosen.add(int(token))
        mass += probs[token]
    return chosen


@pytest.mark.parametrize("k", [1, 5])
def test_top_k_never_samples_outside_the_k_most_likely(k):
    logits = random_logits()
    samples = draws(logits, SamplingConfig(temperature=1.0, top_k=k))
    for row in range(B):
        allowed = set(np.argsort(-np.asarray(logits[row]))[:k].tolist())
        assert set(samples[:, row].tolist()) <= allowed
    kept = np.isfinite(np.asarray(top_k_filter(logits, k)))
    assert (kept.sum(-1) == k).all()


@pytest.mark.parametrize("p", [0.3, 0.9])
def test_top_p_never_samples_outside_the_nucleus(p):
    logits = random_logits(seed=1)
    samples = draws(logits, SamplingConfig(temperature=1.0, top_p=p))
    kept = np.isfinite(np.asarray(top_p_filter(logits, p)))
    for row in range(B):
        nucleus = nucleus_numpy(np.asarray(logits[row], np.float64), p)
        assert set(np.flatnonzero(kept[row]).tolist()) == nucleus
        assert set(samples[:, row].tolist()) <= nucleus


def test_top_p_always_keeps_the_most_likely_token():
    logits = random_logits(seed=2, scale=10.0)
    kept = np.isfinite(np.asarray(top_p_filter(logits, 1e-6)))
    assert (kept.sum(-1) == 1).all()
    assert (np.argmax(kept, -1) == np.asarray(greedy(logits))).all()


def test_filters_compose_as_the_intersection_of_top_k_and_nucleus():
    logits = random_logits(seed=3)
    config = SamplingConfig(temperature=1.0, top_k=5, top_p=0.5)
    kept = np.isfinite(np.asarray(filter_logits(logits, config)))
    top5 = np.isfinite(np.asarray(top_k_filter(logits, 5)))
    assert (kept <= top5).all() and (kept.sum(-1) >= 1).all()
    samples = draws(logits, config)
    for row in range(B):
        assert set(samples[:, row].tolist()) <= set(np.flatnonzero(kept[row]).tolist())


def test_temperature_going_to_zero_equals_greedy():
    logits = random_logits(seed=4)
    argmax = np.asarray(jnp.argmax(logits, -1))
    np.testing.assert_array_equal(np.asarray(sample(logits, jax.random.key(0), SamplingConfig())), argmax)
    cold = draws(logits, SamplingConfig(temperature=1e-3))
    assert (cold == argmax[None]).all()


def test_same_key_same_tokens_other_key_other_tokens():
    logits = random_logits(seed=5, scale=0.5)
    config = SamplingConfig(temperature=1.0, top_p=0.9)
    np.testing.assert_array_equal(draws(logits, config, seed=7), draws(logits, config, seed=7))
    assert not np.array_equal(draws(logits, config, seed=7), draws(logits, config, seed=8))


def test_sampling_follows_the_softmax_distribution():
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.2, 0.0]]) + 1e-30)
    samples = draws(logits, SamplingConfig(temperature=1.0), count=4000)[:, 0]
    freq = np.bincount(samples, minlength=4) / len(samples)
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.2, 0.0], atol=0.03)


@pytest.mark.parametrize("bad", [dict(temperature=-1.0), dict(top_k=-2), dict(top_p=0.0), dict(top_p=1.5)])
def test_invalid_settings_are_rejected(bad):
    with pytest.raises(JaxlmError):
        SamplingConfig(**bad)
