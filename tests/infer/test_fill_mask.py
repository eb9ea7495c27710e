"""Fill-mask: masks land where the text puts them, predictions are the MLM head's top-k at those
slots, and a head biased towards one word fills it in."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.errors import JaxlmError
from jaxlm.infer.fill_mask import encode_masked, fill_mask, filled_text
from jaxlm.models import build_model
from tests.infer.helpers import WORDS, WordTokenizer, encoder_config, tiny_model


@pytest.fixture(scope="module")
def encoder():
    return build_model(encoder_config(), seed=0)


def test_masks_are_placed_between_the_encoded_pieces():
    tokens, positions = encode_masked(WordTokenizer(), "the [MASK] sat on [MASK] mat")
    assert [WORDS[t] for t in tokens] == ["[CLS]", "the", "[MASK]", "sat", "on", "[MASK]", "mat", "[SEP]"]
    np.testing.assert_array_equal(positions, [2, 5])


def test_predictions_are_the_top_k_of_the_mlm_logits_at_each_mask(encoder):
    text = "the [MASK] sat on the [MASK]"
    predictions = fill_mask(encoder, WordTokenizer(), text, top_k=3)
    tokens, positions = encode_masked(WordTokenizer(), text)
    logits = np.asarray(encoder(jnp.asarray(tokens)[None])["mlm_logits"][0])  # every position
    assert len(predictions) == 2
    for slot, candidates in zip(positions, predictions, strict=True):
        probs = np.exp(logits[slot] - logits[slot].max())
        probs /= probs.sum()
        expected = np.argsort(-probs)[:3]
        assert [c.token_id for c in candidates] == expected.tolist()
        np.testing.assert_allclose([c.probability for c in candidates], probs[expected], rtol=1e-5)
        assert [c.piece for c in candidates] == [WORDS[t] for t in expected]


def test_a_head_biased_to_one_word_fills_it_in(encoder):
    bias = encoder.mlm_head.output_bias
    original = bias[...]
    bias[...] = original.at[WORDS.index("dog")].set(50.0)
    try:
        text = "the [MASK] sat on a mat"
        predictions = fill_mask(encoder, WordTokenizer(), text, top_k=2)
    finally:
        bias[...] = original
    assert predictions[0][0].piece == "dog" and predictions[0][0].probability > 0.99
    assert filled_text(text, predictions) == "the dog sat on a mat"


def test_text_without_mask_and_models_without_mlm_head_are_rejected(encoder):
    with pytest.raises(JaxlmError, match="MASK"):
        fill_mask(encoder, WordTokenizer(), "the cat sat")
    with pytest.raises(JaxlmError, match="masked-LM head"):
        fill_mask(tiny_model("decoder"), WordTokenizer(), "the [MASK] sat")
