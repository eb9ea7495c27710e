"""Beam search: beam 1 is greedy, wider beams find at least as good a sequence, a wide enough
beam finds the exact best one, and reported scores match an independent full forward pass."""

import numpy as np
import pytest

from jaxlm.infer.beam_search import beam_search
from jaxlm.infer.generate import generate
from tests.infer.helpers import LENGTHS, PROMPTS, all_continuations, sequence_log_prob, tiny_model

NEW = 6
PAD = 15


@pytest.fixture(scope="module", params=["decoder", "enc_dec"])
def setting(request):
    """(variant, model, eos id, greedy continuations with that EOS): the EOS is the token greedy
    decoding emits third in row 0, so EOS handling is exercised."""
    model = tiny_model(request.param)
    free = np.asarray(generate(model, PROMPTS, LENGTHS, max_new_tokens=NEW))
    eos = int(free[0, 2])
    greedy = np.asarray(generate(model, PROMPTS, LENGTHS, max_new_tokens=NEW, eos_id=eos, pad_id=PAD))
    return request.param, model, eos, greedy


def test_beam_of_one_is_greedy(setting):
    _, model, eos, greedy = setting
    sequences, scores = beam_search(model, PROMPTS, LENGTHS, beam_size=1, max_new_tokens=NEW, alpha=0.0,
                                    eos_id=eos, pad_id=PAD)
    np.testing.assert_array_equal(np.asarray(sequences)[:, 0], greedy)
    for row, n in enumerate(LENGTHS):
        expected = sequence_log_prob(model, PROMPTS[row, :n], greedy[row], eos)
        np.testing.assert_allclose(float(scores[row, 0]), expected, rtol=1e-4, atol=1e-4)


def test_wider_beam_scores_at_least_greedy_and_scores_are_true_log_probs(setting):
    _, model, eos, greedy = setting
    sequences, scores = beam_search(model, PROMPTS, LENGTHS, beam_size=4, max_new_tokens=NEW, alpha=0.0,
                                    eos_id=eos, pad_id=PAD)
    sequences, scores = np.asarray(sequences), np.asarray(scores)
    assert (np.diff(scores, axis=1) <= 1e-6).all(), "beams come best first"
    for row, n in enumerate(LENGTHS):
        prompt = PROMPTS[row, :n]
        for beam in range(4):
            independent = sequence_log_prob(model, prompt, sequences[row, beam], eos)
            np.testing.assert_allclose(scores[row, beam], independent, rtol=1e-4, atol=1e-4)
        assert scores[row, 0] >= sequence_log_prob(model, prompt, greedy[row], eos) - 1e-5
        hit = np.flatnonzero(sequences[row, 0] == eos)
        if len(hit):
            assert (sequences[row, 0, hit[0] + 1:] == PAD).all()


@pytest.mark.parametrize("variant", ["decoder", "enc_dec"])
def test_wide_beam_finds_the_exact_best_sequence_with_length_penalty(variant):
    model = tiny_model(variant, vocab_size=6)
    length, eos, alpha = 3, 5, 0.6
    prompts = np.array([[1, 2, 3, 4], [4, 1, 0, 0]], np.int32)
    lengths = np.array([4, 2], np.int32)
    sequences, scores = beam_search(model, prompts, lengths, beam_size=36, max_new_tokens=length, alpha=alpha,
                                    eos_id=eos, pad_id=0)
    for row, n in enumerate(lengths):
        hypotheses, true_scores = all_continuations(model, prompts[row, :n], length, eos, alpha)
        assert true_scores[0] > true_scores[1] + 1e-5, "unique optimum"
        found = np.asarray(sequences[row, 0])
        best = hypotheses[0]
        np.testing.assert_array_equal(found[best >= 0], best[best >= 0])
        np.testing.assert_allclose(float(scores[row, 0]), true_scores[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(scores[row, :5]), true_scores[:5], rtol=1e-4, atol=1e-5)
