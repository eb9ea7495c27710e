"""Incremental decoding with the KV cache reproduces the full forward pass: a prompt prefilled in
one call, then one token per call (and token by token from the first), scanned and unrolled."""

from __future__ import annotations

import numpy as np
import pytest

VOCAB = 61
# (variant, scan_layers): each family scanned and unrolled, plus a second architecture unrolled.
DECODER_CASES = [("gpt2", False), ("gpt2", True), ("rotary_swiglu", False)]
ENCODER_DECODER_CASES = [("t5", False), ("t5", True), ("t5_v1_1", False)]


def tokens(shape, seed):
    return np.random.default_rng(seed).integers(1, VOCAB, shape).astype(np.int32)


def decode_incrementally(step, cache, targets, prefill):
    """Logits of `targets` [b, lt] from `step(chunk, cache) -> (logits, cache)`: the first
    `prefill` tokens in one call, the rest one at a time."""
    logits, cache = step(targets[:, :prefill], cache)
    pieces = [np.asarray(logits)]
    for t in range(prefill, targets.shape[1]):
        logits, cache = step(targets[:, t : t + 1], cache)
        pieces.append(np.asarray(logits))
    return np.concatenate(pieces, axis=1), cache


def assert_cache_filled(cache, length):
    indices = [c.index for c in cache] if isinstance(cache, list) else cache.index
    np.testing.assert_array_equal(np.asarray(indices), length)


@pytest.mark.parametrize(("variant", "scan"), DECODER_CASES)
def test_decoder_kv_cache_matches_full_forward(tiny_model, apply, forward, variant, scan):
    model = tiny_model(variant, f"model.scan_layers={str(scan).lower()}")
    targets = tokens((2, 8), 0)
    full = np.asarray(forward(model, targets)["logits"])

    def step(chunk, cache):
        out = apply(model, chunk, cache=cache)
        return out["logits"], out["cache"]

    for prefill in (1, 3):  # token by token from the start, then after a 3-token prompt
        incremental, cache = decode_incrementally(step, model.init_cache(2, 8), targets, prefill)
        np.testing.assert_allclose(incremental, full, rtol=1e-5, atol=1e-5, err_msg=f"prefill={prefill}")
        assert_cache_filled(cache, 8)


@pytest.mark.parametrize(("variant", "scan"), ENCODER_DECODER_CASES)
def test_encoder_decoder_kv_cache_matches_full_forward(tiny_model, apply, forward, variant, scan):
    model = tiny_model(variant, f"model.scan_layers={str(scan).lower()}")
    inputs, targets = tokens((2, 8), 1), tokens((2, 6), 2)
    segments = np.array([[1, 1, 1, 1, 1, 0, 0, 0], [1] * 8], np.int32)
    full = np.asarray(forward(model, inputs, targets, segments=segments)["logits"])
    encoded = apply(model, inputs, method="encode", segments=segments)

    def step(chunk, cache):
        out = apply(model, chunk, encoded, method="decode", segments=segments, cache=cache)
        return out["logits"], out["cache"]

    for prefill in (1, 3):
        incremental, cache = decode_incrementally(step, model.init_cache(2, 8), targets, prefill)
        np.testing.assert_allclose(incremental, full, rtol=1e-5, atol=1e-5, err_msg=f"prefill={prefill}")
        assert_cache_filled(cache, 6)
