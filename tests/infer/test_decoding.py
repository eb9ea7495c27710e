"""Prefill + single-token steps over the KV cache reproduce the logits of a full uncached pass,
row by row, for ragged batches and every kind of position information."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxlm.infer.decoding import DecodeState, left_pad, prefill, select_rows, step
from jaxlm.nn.attention import KVCache
from tests.infer.helpers import LENGTHS, PROMPTS, VOCAB, full_logits, tiny_model

STEPS = 4


def test_left_pad_moves_each_prompt_to_the_end_with_positions_from_zero():
    tokens, segments, positions = left_pad(jnp.asarray(PROMPTS), jnp.asarray(LENGTHS), pad_id=0)
    np.testing.assert_array_equal(tokens, [[3, 7, 1, 12, 5], [0, 0, 0, 9, 4], [0, 0, 14, 2, 8]])
    np.testing.assert_array_equal(segments, [[1, 1, 1, 1, 1], [0, 0, 0, 1, 1], [0, 0, 1, 1, 1]])
    np.testing.assert_array_equal(positions, [[0, 1, 2, 3, 4], [0, 0, 0, 0, 1], [0, 0, 0, 1, 2]])


@pytest.mark.parametrize("variant", ["decoder_relative", "enc_dec"])
def test_cached_logits_equal_full_forward_logits(variant):
    model = tiny_model(variant)
    fed = np.asarray(jax.random.randint(jax.random.key(1), (len(PROMPTS), STEPS), 1, VOCAB), np.int32)

    graphdef, params = nnx.split(model)

    @jax.jit
    def cached(params, prompt, lengths, fed):
        model = nnx.merge(graphdef, params)
        logits, state = prefill(model, prompt, lengths, max_new_tokens=STEPS, decoder_start_id=0)
        out = [logits]
        for i in range(STEPS - 1):
            logits, state = step(model, fed[:, i], state)
            out.append(logits)
        return jnp.stack(out, 1)  # [b, STEPS, V]

    got = np.asarray(cached(params, PROMPTS, LENGTHS, fed))
    for row, n in enumerate(LENGTHS):
        np.testing.assert_allclose(got[row], full_logits(model, PROMPTS[row, :n], fed[row]), atol=2e-5, rtol=1e-5)


def test_select_rows_reorders_cache_rows_but_keeps_the_shared_index():
    layers, batch, slots = 2, 3, 4
    key = jax.random.normal(jax.random.key(0), (layers, batch, slots, 2, 8))  # a scanned stack's cache
    cache = KVCache(key, -key, jnp.arange(batch * slots).reshape(batch, slots)[None].repeat(layers, 0),
                    jnp.full((layers,), 2, jnp.int32))
    state = DecodeState(cache, jnp.array([5, 2, 3]), jnp.arange(batch * 6.0).reshape(batch, 2, 3),
                        jnp.ones((batch, 2), jnp.int32))
    rows = jnp.array([2, 2, 0])
    picked = select_rows(state, rows)
    np.testing.assert_array_equal(picked.cache.key, key[:, rows])
    np.testing.assert_array_equal(picked.cache.value, -key[:, rows])
    np.testing.assert_array_equal(picked.cache.segments, cache.segments[:, rows])
    np.testing.assert_array_equal(picked.cache.index, cache.index)
    np.testing.assert_array_equal(picked.positions, [3, 3, 5])
    np.testing.assert_array_equal(picked.encoded, state.encoded[rows])
    unrolled = select_rows(state._replace(cache=[KVCache(*(a[0] for a in cache[:3]), cache.index[0])] * 2), rows)
    np.testing.assert_array_equal(unrolled.cache[1].key, key[0, rows])
