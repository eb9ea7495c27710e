import numpy as np
import pytest

from jaxlm.config import ConfigError, config_from_dict
from jaxlm.objectives.builders import target_length
from jaxlm.objectives.span_corruption import (
    corrupt,
    corrupted_lengths,
    noise_mask,
    random_spans_helper,
    span_corruption_examples,
)

V, EOS = 1000, 3


def sentinel(i):
    return V - 1 - i


def reconstruct(inputs, targets):
    """Put each sentinel's dropped span from the targets back into the inputs."""
    spans, current = {}, None
    for t in targets:
        if t >= V - 100:
            current = int(t)
            spans[current] = []
        elif t != EOS and current is not None:
            spans[current].append(int(t))
    out = []
    for t in inputs:
        if t == EOS:
            break
        out.extend(spans[int(t)] if t >= V - 100 else [int(t)])
    return out


def test_random_spans_helper_matches_t5_lengths():
    assert random_spans_helper(512, 0.15, 3.0) == (568, 114)
    assert corrupted_lengths(568, 0.15, 3.0) == (512, 114)


def test_inputs_and_targets_reconstruct_the_original_exactly():
    rng = np.random.default_rng(0)
    for length in [2, 3, 10, 57, 200, 568]:
        tokens = rng.integers(10, 800, length).astype(np.int32)
        mask = noise_mask(length, 0.15, 3.0, rng)
        inputs, targets = corrupt(tokens, mask, sentinel, EOS)
        assert reconstruct(inputs, targets) == tokens.tolist()
        assert inputs[-1] == EOS and targets[-1] == EOS and targets[0] == sentinel(0)
        assert not mask[0], "spans start with non-noise"


def test_noise_density_and_span_length_over_many_chunks():
    rng = np.random.default_rng(1)
    masks = [noise_mask(568, 0.15, 3.0, rng) for _ in range(200)]
    density = np.mean([m.mean() for m in masks])
    spans = sum(int(np.sum(m[1:] & ~m[:-1])) for m in masks)
    assert abs(density - 0.15) < 0.005
    assert abs(sum(int(m.sum()) for m in masks) / spans - 3.0) < 0.1


def test_examples_fill_the_configured_lengths_and_reconstruct():
    rng = np.random.default_rng(2)
    docs = [rng.integers(10, 800, n).astype(np.int32) for n in (5, 70, 71, 300)]
    examples = span_corruption_examples(docs, 64, 14, 0.15, 3.0, sentinel, EOS, 0, rng)
    assert max(int(x["segments"].sum()) for x in examples) == 64
    pieces = []
    for x in examples:
        n, m = int(x["segments"].sum()), int(x["decoder_segments"].sum())
        assert m <= 14 and x["weights"].sum() == m
        np.testing.assert_array_equal(x["decoder_inputs"][1:m], x["targets"][: m - 1])
        assert x["decoder_inputs"][0] == 0
        pieces.append(reconstruct(x["inputs"][:n], x["targets"][:m]))
    originals = [doc[s : s + 70].tolist() for doc in docs for s in range(0, len(doc), 70) if len(doc) - s >= 2]
    assert sorted(pieces) == sorted(originals)


def _t5(target):
    model = {"family": "encoder_decoder", "vocab_size": 512, "d_model": 16, "num_heads": 2, "d_ff": 32,
             "num_layers": 1, "position": "relative"}
    return config_from_dict({"model": model, "data": {"objective": "span_corruption", "seq_length": 512,
                                                      "target_length": target}})


def test_target_length_is_derived_and_too_short_is_a_config_error():
    assert target_length(_t5(0)) == 114 and target_length(_t5(128)) == 128
    with pytest.raises(ConfigError, match=r"data.target_length: 100 is shorter than the 114 targets"):
        target_length(_t5(100))
