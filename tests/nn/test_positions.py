"""Position encodings: sinusoid values, the rotary relative-position property, T5 buckets."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from numpy_references import t5_bucket

from jaxlm.nn.positions import (
    RelativePositionBias,
    apply_rotary,
    relative_position_bucket,
    sinusoidal_positions,
)


def test_sinusoidal_positions_match_the_transformer_paper():
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d))."""
    d = 8
    positions = np.array([[0, 1, 5, 37]])
    expected = np.zeros((1, 4, d))
    for n, p in enumerate(positions[0]):
        for i in range(d // 2):
            expected[0, n, 2 * i] = math.sin(p / 10000 ** (2 * i / d))
            expected[0, n, 2 * i + 1] = math.cos(p / 10000 ** (2 * i / d))
    np.testing.assert_allclose(sinusoidal_positions(jnp.asarray(positions), d), expected, atol=1e-5)


def rotated_dot(q, k, query_position, key_position):
    def rotate(x, p):
        return np.asarray(apply_rotary(jnp.asarray(x)[None, None, None], jnp.array([[p]])), np.float64)[0, 0, 0]
    return float(rotate(q, query_position) @ rotate(k, key_position))


def test_rotary_dot_product_depends_only_on_position_difference():
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(2, 8)).astype(np.float32)
    at_3_1 = rotated_dot(q, k, 3, 1)
    np.testing.assert_allclose(rotated_dot(q, k, 10, 8), at_3_1, rtol=1e-4)
    np.testing.assert_allclose(rotated_dot(q, k, 102, 100), at_3_1, rtol=1e-4)
    assert abs(rotated_dot(q, k, 3, 2) - at_3_1) > 1e-3  # a different offset changes it


def test_rotary_is_a_rotation_and_identity_at_position_zero():
    x = np.random.default_rng(1).normal(size=(1, 3, 2, 8)).astype(np.float32)
    rotated = np.asarray(apply_rotary(jnp.asarray(x), jnp.array([[0, 4, 50]])))
    np.testing.assert_allclose(rotated[:, 0], x[:, 0], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rotated, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize(("num_buckets", "max_distance"), [(32, 128), (8, 20)])
def test_relative_buckets_match_the_t5_paper(bidirectional, num_buckets, max_distance):
    relative = np.arange(-300, 301)
    got = np.asarray(relative_position_bucket(
        jnp.asarray(relative), bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance
    ))
    expected = [t5_bucket(int(r), bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance)
                for r in relative]
    np.testing.assert_array_equal(got, expected)


def test_relative_buckets_spot_values():
    """Hand-checked values for T5's 32 buckets / distance 128, bidirectional (encoder)."""
    relative = jnp.array([0, -1, 1, -7, -8, -16, -127, -1000, 1000])
    got = relative_position_bucket(relative, bidirectional=True, num_buckets=32, max_distance=128)
    # 8 exact buckets per side; offsets > 0 are shifted by 16; log range 8..128 spans buckets 8..15.
    np.testing.assert_array_equal(got, [0, 1, 17, 7, 8, 10, 15, 15, 31])


def test_relative_position_bias_looks_up_the_bucket_of_each_offset():
    module = RelativePositionBias(8, 20, 3, bidirectional=False, rngs=nnx.Rngs(0))
    table = np.asarray(module.embedding[...])
    bias = np.asarray(module(jnp.arange(2, 6), jnp.arange(7)))
    assert bias.shape == (1, 3, 4, 7)
    for i, query in enumerate(range(2, 6)):
        for key in range(7):
            bucket = t5_bucket(key - query, bidirectional=False, num_buckets=8, max_distance=20)
            np.testing.assert_allclose(bias[0, :, i, key], table[bucket], rtol=1e-6)
