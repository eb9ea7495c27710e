"""Context-parallel attention (ring and all-gather) equals attention computed in numpy on padded
and packed batches, causal or not, values and gradients; the causal order gives device i chunks i
and 2n−1−i; the GPipe schedule idles (p−1)/(m+p−1) of the time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm import parallel
from jaxlm.config import ParallelConfig
from jaxlm.errors import JaxlmError
from jaxlm.nn.attention_core import attention_weights, combine_values
from jaxlm.nn.masks import attention_mask

BATCH, LENGTH, HEADS, HEAD_DIM, CONTEXT = 2, 16, 2, 8, 4
# row 0: one document then padding; row 1: three packed documents then padding
SEGMENTS = np.array([[1] * 11 + [0] * 5, [1] * 4 + [2] * 7 + [3] * 3 + [0] * 2], np.int32)


@pytest.fixture(scope="module")
def mesh():
    return parallel.make_mesh(ParallelConfig(context=CONTEXT))  # data=2 × context=4


def numpy_attention(q, k, v, segments, causal: bool, scale: float) -> np.ndarray:
    """softmax over the allowed keys of each query, in float64; rows with none allowed are NaN."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    allowed = (segments[:, :, None] == segments[:, None, :]) & (segments[:, None, :] != 0)
    if causal:
        allowed &= np.tril(np.ones((LENGTH, LENGTH), bool))
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) * scale
    scores = np.where(allowed[:, None], scores, -np.inf)
    with np.errstate(invalid="ignore"):
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
    return np.einsum("bhqk,bkhd->bqhd", weights, v)


def split_attention(attention: str, causal: bool):
    """q, k, v, segments → attention through the hook as the layer stack drives it."""
    hook = parallel.ContextParallel(attention)

    def run(q, k, v, segments):
        q, k, v, segments = (hook.enter(a, causal=causal) for a in (q, k, v, segments))
        return hook.leave(hook.attend(q, k, v, segments, causal=causal, scale=0.3), causal=causal)
    return run


def reference_core(q, k, v, segments, causal: bool):
    mask = attention_mask(segments, segments, causal=causal)
    return combine_values(attention_weights(q, k, mask, None, 0.3), v)


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("attention", ["ring", "all_gather"])
def test_split_attention_equals_numpy_and_the_reference_gradients(mesh, attention, causal):
    q, k, v = jax.random.normal(jax.random.key(0), (3, BATCH, LENGTH, HEADS, HEAD_DIM))
    run = split_attention(attention, causal)
    real = SEGMENTS > 0
    weights = jnp.asarray(real, jnp.float32)[:, :, None, None] * jnp.cos(jnp.arange(HEAD_DIM))

    def loss(attend):
        return lambda q, k, v: jnp.sum(attend(q, k, v, SEGMENTS) * weights)
    with parallel.use_mesh(mesh, parallel.rules_for("dp")):
        out = np.asarray(jax.jit(run)(q, k, v, SEGMENTS))
        grads = jax.jit(jax.grad(loss(run), argnums=(0, 1, 2)))(q, k, v)
    np.testing.assert_allclose(out[real], numpy_attention(q, k, v, SEGMENTS, causal, 0.3)[real], atol=1e-5)
    assert np.isfinite(out).all()  # padding queries give finite, ignored outputs
    expected = jax.grad(loss(lambda *a: reference_core(*a, causal)), argnums=(0, 1, 2))(q, k, v)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)


def test_causal_order_gives_device_i_chunks_i_and_2n_minus_1_minus_i(mesh):
    hook = parallel.ContextParallel()
    slots = np.broadcast_to(np.arange(LENGTH, dtype=np.int32), (BATCH, LENGTH))
    with parallel.use_mesh(mesh, parallel.rules_for("dp")):
        balanced = jax.jit(lambda s: hook.enter(s, causal=True))(slots)
        restored = jax.jit(lambda s: hook.leave(hook.enter(s, causal=True), causal=True))(slots)
    chunk = LENGTH // (2 * CONTEXT)
    held = {}
    for shard in balanced.addressable_shards:
        device = shard.index[1].start // (LENGTH // CONTEXT)
        held[device] = tuple(np.asarray(shard.data)[0].reshape(2, chunk)[:, 0] // chunk)
    assert held == {i: (i, 2 * CONTEXT - 1 - i) for i in range(CONTEXT)}
    np.testing.assert_array_equal(np.asarray(restored), slots)


def test_sequence_that_does_not_split_into_2n_chunks_is_a_one_line_error(mesh):
    hook = parallel.ContextParallel()
    with parallel.use_mesh(mesh, parallel.rules_for("dp")), pytest.raises(JaxlmError) as error:
        jax.jit(lambda s: hook.enter(s, causal=True))(np.ones((BATCH, 12), np.int32))
    assert str(error.value) == (
        "sequence length 12 does not split into 8 pieces over parallel.context=4; pad sequences to a multiple of 8"
    )


@pytest.mark.parametrize(("stages", "microbatches"), [(2, 2), (4, 8), (3, 5), (4, 1)])
def test_gpipe_schedule_idles_p_minus_1_over_m_plus_p_minus_1(stages, microbatches):
    schedule = parallel.gpipe_schedule(stages, microbatches)
    assert schedule.shape == (microbatches + stages - 1, stages)
    for j in range(microbatches):  # microbatch j visits stage s at tick j + s, in stage order
        ticks, visited = np.nonzero(schedule == j)
        np.testing.assert_array_equal(visited, np.arange(stages))
        np.testing.assert_array_equal(ticks, j + np.arange(stages))
    assert parallel.bubble_fraction(schedule) == pytest.approx((stages - 1) / (microbatches + stages - 1))
