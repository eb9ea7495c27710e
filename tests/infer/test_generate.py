"""KV-cache generation: equal to uncached greedy decoding, independent of batching, stopped by
EOS, reproducible under a fixed key."""

import jax
import numpy as np
import pytest

from jaxlm.errors import JaxlmError
from jaxlm.infer.generate import generate
from tests.infer.helpers import LENGTHS, PROMPTS, naive_greedy, tiny_model

NEW = 6


@pytest.fixture(scope="module")
def batched_greedy():
    """Greedy continuations of the ragged PROMPTS batch, per variant (each compiled once)."""
    cache = {}

    def get(variant):
        if variant not in cache:
            cache[variant] = np.asarray(generate(tiny_model(variant), PROMPTS, LENGTHS, max_new_tokens=NEW))
        return cache[variant]

    return get


@pytest.mark.parametrize("variant", ["decoder", "decoder_scanned", "enc_dec", "enc_dec_scanned"])
def test_cached_greedy_equals_full_recompute_for_every_row(variant, batched_greedy):
    model = tiny_model(variant)
    out = batched_greedy(variant)
    assert out.shape == (len(PROMPTS), NEW)
    for row, (prompt, n) in enumerate(zip(PROMPTS, LENGTHS, strict=True)):
        np.testing.assert_array_equal(out[row], naive_greedy(model, prompt[:n], NEW), err_msg=f"row {row}")


def test_batched_generation_equals_each_prompt_alone(batched_greedy):
    model = tiny_model("decoder")
    out = batched_greedy("decoder")
    for row in (0, 1):
        alone = generate(model, PROMPTS[row:row + 1, :LENGTHS[row]], max_new_tokens=NEW)
        np.testing.assert_array_equal(out[row], np.asarray(alone)[0])


def test_rows_are_not_all_alike(batched_greedy):
    """Guards the other tests against a degenerate model that emits one token everywhere."""
    out = batched_greedy("decoder")
    assert len(np.unique(out)) > 2


@pytest.mark.parametrize("variant", ["decoder", "enc_dec"])
def test_eos_stops_its_row_and_pads_after(variant, batched_greedy):
    model = tiny_model(variant)
    free = batched_greedy(variant)
    eos = int(free[0, 2])  # row 0 emits it at step 2 (or earlier)
    out = np.asarray(generate(model, PROMPTS, LENGTHS, max_new_tokens=NEW, eos_id=eos, pad_id=15))
    for row in range(len(PROMPTS)):
        hits = np.flatnonzero(free[row] == eos)
        stop = hits[0] + 1 if len(hits) else NEW
        np.testing.assert_array_equal(out[row, :stop], free[row, :stop])
        assert (out[row, stop:] == 15).all()
    assert (out[0, 3:] == 15).all()


def test_sampling_with_the_same_key_is_reproducible_and_keys_matter():
    model = tiny_model("decoder")

    def draw(seed):
        return np.asarray(generate(model, PROMPTS, LENGTHS, max_new_tokens=NEW, temperature=1.5,
                                   rng=jax.random.key(seed)))

    first = draw(0)
    np.testing.assert_array_equal(first, draw(0))
    assert any(not np.array_equal(first, draw(seed)) for seed in (1, 2))


@pytest.mark.parametrize("lengths", [[5, 0, 3], [5, 6, 3], [5, 2]])
def test_prompt_lengths_outside_the_prompt_are_rejected(lengths):
    with pytest.raises(JaxlmError, match="prompt_lengths"):
        generate(tiny_model("decoder"), PROMPTS, np.array(lengths), max_new_tokens=2)
