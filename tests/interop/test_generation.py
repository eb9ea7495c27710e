"""Greedy generation of 20 tokens with jaxlm's KV cache equals transformers' generate()."""

import numpy as np
import pytest

from jaxlm.interop import from_hf
from tests.interop import helpers
from tests.interop.helpers import hf_greedy, jaxlm_greedy_decoder, jaxlm_greedy_seq2seq, padded_batch

STEPS = 20


def test_gpt2_greedy_generation_matches_transformers():
    hf = helpers.gpt2()
    _, model = from_hf(hf)
    prompt = np.random.default_rng(7).integers(0, helpers.VOCAB, (2, 11)).astype(np.int32)
    expected = hf_greedy(hf, STEPS, input_ids=prompt, attention_mask=np.ones_like(prompt))
    assert expected.shape == (2, 11 + STEPS)
    np.testing.assert_array_equal(jaxlm_greedy_decoder(model, prompt, STEPS), expected)


@pytest.mark.parametrize("variant", ["v1.0", "v1.1"])
def test_t5_greedy_generation_matches_transformers(variant):
    hf = helpers.t5(variant)
    _, model = from_hf(hf)
    ids, mask = padded_batch([15, 10], 15, seed=8)
    expected = hf_greedy(hf, STEPS, input_ids=ids, attention_mask=mask)
    assert expected.shape == (2, 1 + STEPS)
    np.testing.assert_array_equal(jaxlm_greedy_seq2seq(model, ids, mask, STEPS), expected)
