"""LayerNorm and RMSNorm against float64 references."""

import numpy as np
import pytest
from flax import nnx
from numpy_references import layer_norm, rms_norm

from jaxlm.nn.norms import LayerNorm, RMSNorm


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(3.0, 2.0, (2, 5, 8)).astype(np.float32)


def test_layer_norm_matches_reference(x):
    rng = np.random.default_rng(1)
    norm = LayerNorm(8, rngs=nnx.Rngs(0), eps=1e-5)
    scale, bias = rng.normal(size=8), rng.normal(size=8)
    norm.scale[...] = scale.astype(np.float32)
    norm.bias[...] = bias.astype(np.float32)
    np.testing.assert_allclose(norm(x), layer_norm(x, scale, bias, 1e-5), rtol=1e-5, atol=1e-5)


def test_layer_norm_output_has_zero_mean_unit_variance_before_affine(x):
    y = np.asarray(LayerNorm(8, rngs=nnx.Rngs(0))(x), np.float64)
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1.0, rtol=1e-4)


def test_rms_norm_matches_reference_and_does_not_centre(x):
    scale = np.random.default_rng(2).normal(size=8)
    norm = RMSNorm(8, rngs=nnx.Rngs(0), eps=1e-6)
    norm.scale[...] = scale.astype(np.float32)
    np.testing.assert_allclose(norm(x), rms_norm(x, scale, 1e-6), rtol=1e-5, atol=1e-5)
    assert [path[-1] for path, _ in nnx.to_flat_state(nnx.state(norm, nnx.Param))] == ["scale"]
    unit = np.asarray(RMSNorm(8, rngs=nnx.Rngs(0))(x))
    assert unit.mean() > 0.5  # x has mean 3 and RMSNorm does not subtract it


def test_layer_norm_eps_matters_for_small_inputs():
    x = np.full((1, 4), 1e-3, np.float32) * np.array([1, -1, 1, -1], np.float32)
    norm = LayerNorm(4, rngs=nnx.Rngs(0), eps=1e-2)
    np.testing.assert_allclose(norm(x), layer_norm(x, 1.0, 0.0, 1e-2), rtol=1e-5)
