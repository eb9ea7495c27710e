"""Information flow through the models: causal decoders never look ahead, padding (segment 0)
is invisible, and packed documents never attend across each other.

Every call uses batches of shape [2, 8] (decoder side [2, 6]) so each model compiles once.
"""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import DECODERS, ENCODER_DECODERS, ENCODERS

VOCAB, L, LT = 61, 8, 6


def tokens(shape, seed):
    return np.random.default_rng(seed).integers(1, VOCAB, shape).astype(np.int32)


def assert_same(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def assert_differs(a, b):
    assert not np.allclose(np.asarray(a), np.asarray(b), atol=1e-5), "the edit should have changed these outputs"


def edit_after(x, t, seed):
    edited = x.copy()
    edited[:, t + 1:] = tokens(x.shape, seed)[:, t + 1:]
    return edited


# --- causality -------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", DECODERS)
def test_causal_decoder_ignores_future_tokens(tiny_model, forward, variant):
    model, t = tiny_model(variant), 3
    original = tokens((2, L), 0)
    before = forward(model, original)["logits"]
    after = forward(model, edit_after(original, t, 1))["logits"]
    assert_same(before[:, : t + 1], after[:, : t + 1])
    assert_differs(before[:, t + 1:], after[:, t + 1:])


@pytest.mark.parametrize("variant", ENCODER_DECODERS)
def test_encoder_decoder_ignores_future_decoder_tokens(tiny_model, forward, variant):
    model, t = tiny_model(variant), 2
    inputs, original = tokens((2, L), 2), tokens((2, LT), 3)
    before = forward(model, inputs, original)["logits"]
    after = forward(model, inputs, edit_after(original, t, 4))["logits"]
    assert_same(before[:, : t + 1], after[:, : t + 1])
    assert_differs(before[:, t + 1:], after[:, t + 1:])


def test_encoder_is_bidirectional(tiny_model, forward):
    model = tiny_model("bert")
    original = tokens((2, L), 5)
    before = forward(model, original)["hidden"]
    after = forward(model, edit_after(original, L - 2, 6))["hidden"]
    assert_differs(before[:, 0], after[:, 0])


# --- padding ---------------------------------------------------------------------------------

PADDED = np.array([[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]], np.int32)
DECODER_PADDED = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], np.int32)


def with_new_pads(x, segments, seed):
    edited = x.copy()
    edited[segments == 0] = tokens(x.shape, seed)[segments == 0]
    return edited


def test_encoder_ignores_pad_tokens(tiny_model, forward):
    model = tiny_model("bert")
    original = tokens((2, L), 7)
    before = forward(model, original, segments=PADDED)
    after = forward(model, with_new_pads(original, PADDED, 8), segments=PADDED)
    real = PADDED != 0
    assert_same(np.asarray(before["hidden"])[real], np.asarray(after["hidden"])[real])
    assert_same(np.asarray(before["mlm_logits"])[real], np.asarray(after["mlm_logits"])[real])
    for head in ("pooled", "nsp_logits", "class_logits"):
        assert_same(before[head], after[head])


@pytest.mark.parametrize("variant", DECODERS)
def test_decoder_ignores_pad_tokens(tiny_model, forward, variant):
    model = tiny_model(variant)
    original = tokens((2, L), 9)
    real = PADDED != 0
    before = np.asarray(forward(model, original, segments=PADDED)["logits"])
    after = np.asarray(forward(model, with_new_pads(original, PADDED, 10), segments=PADDED)["logits"])
    assert_same(before[real], after[real])


@pytest.mark.parametrize("variant", ENCODER_DECODERS)
def test_encoder_decoder_ignores_pad_tokens_on_both_sides(tiny_model, forward, variant):
    model = tiny_model(variant)
    inputs, targets = tokens((2, L), 11), tokens((2, LT), 12)
    masks = {"segments": PADDED, "decoder_segments": DECODER_PADDED}
    before = np.asarray(forward(model, inputs, targets, **masks)["logits"])
    after = np.asarray(forward(
        model, with_new_pads(inputs, PADDED, 13), with_new_pads(targets, DECODER_PADDED, 14), **masks
    )["logits"])
    real = DECODER_PADDED != 0
    assert_same(before[real], after[real])


# --- packing ---------------------------------------------------------------------------------

def packed_and_alone(length, split, seed):
    """Row 0 of `packed`: two documents (lengths split, length − split) with segments 1 then 2 and
    positions restarting at 0. `alone`: the same documents each at the start of its own row,
    padded with segment 0. Returns (packed, alone) as dicts of inputs, segments, positions."""
    docs = tokens((2, length), seed)
    first, second = docs[0, :split], docs[1, : length - split]
    row = np.concatenate([first, second])
    packed = {
        "inputs": np.stack([row, docs[1]]),
        "segments": np.array([[1] * split + [2] * (length - split), [1] * length], np.int32),
        "positions": np.array([list(range(split)) + list(range(length - split)), list(range(length))], np.int32),
    }
    alone_segments = np.zeros((2, length), np.int32)
    alone_segments[0, :split] = 1
    alone_segments[1, : length - split] = 1
    alone = {
        "inputs": np.where(alone_segments > 0, docs, 0).astype(np.int32),
        "segments": alone_segments,
        "positions": np.broadcast_to(np.arange(length, dtype=np.int32), (2, length)),
    }
    return packed, alone


def split_outputs(packed_out, alone_out, split, length):
    """(packed document 1, alone document 1), (packed document 2, alone document 2)."""
    packed_out, alone_out = np.asarray(packed_out), np.asarray(alone_out)
    return ((packed_out[0, :split], alone_out[0, :split]),
            (packed_out[0, split:], alone_out[1, : length - split]))


@pytest.mark.parametrize("variant", ENCODERS)
def test_packed_encoder_documents_match_each_alone(tiny_model, forward, variant):
    model = tiny_model(variant)
    packed, alone = packed_and_alone(L, 5, 15)
    together = forward(model, packed.pop("inputs"), **packed)
    separate = forward(model, alone.pop("inputs"), **alone)
    for key in ("hidden", "mlm_logits"):
        for got, expected in split_outputs(together[key], separate[key], 5, L):
            assert_same(got, expected)


@pytest.mark.parametrize("variant", DECODERS)
def test_packed_decoder_documents_match_each_alone(tiny_model, forward, variant):
    model = tiny_model(variant)
    packed, alone = packed_and_alone(L, 5, 16)
    together = forward(model, packed.pop("inputs"), **packed)["logits"]
    separate = forward(model, alone.pop("inputs"), **alone)["logits"]
    for got, expected in split_outputs(together, separate, 5, L):
        assert_same(got, expected)


@pytest.mark.parametrize("variant", ENCODER_DECODERS)
def test_packed_encoder_decoder_pairs_match_each_alone(tiny_model, forward, variant):
    model = tiny_model(variant)
    packed, alone = packed_and_alone(L, 5, 17)
    packed_targets, alone_targets = packed_and_alone(LT, 2, 18)

    def run(enc, dec):
        return forward(model, enc["inputs"], dec["inputs"], segments=enc["segments"], positions=enc["positions"],
                       decoder_segments=dec["segments"], decoder_positions=dec["positions"])["logits"]

    for got, expected in split_outputs(run(packed, packed_targets), run(alone, alone_targets), 2, LT):
        assert_same(got, expected)
