import numpy as np
import pytest

from jaxlm.config import ConfigError, config_from_dict
from jaxlm.errors import JaxlmError
from jaxlm.objectives.builders import target_length
from jaxlm.objectives.span_corruption import (
    SpanCorruptionExamples,
    corrupt,
    corrupted_lengths,
    noise_mask,
    random_spans_helper,
)
from tests.objectives.conftest import VOCAB, NumberTokenizer, rows_in_order

V, EOS, START = VOCAB, 3, 5


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
    assert random_spans_helper(512, 0.15, 3.0) == (568, 114)  # T5's pretraining lengths
    assert corrupted_lengths(568, 0.15, 3.0) == (512, 114)
    # Density 0.5, mean span 3, by hand: raw 767 has round(383.5) = 384 noise tokens in 128 spans,
    # inputs 767 - 384 + 128 + 1 = 512 and targets 384 + 128 + 1 = 513 (raw 768 gives inputs 513);
    # T5 then drops one raw token so the targets do not exceed the inputs: raw 766, 383 noise tokens
    # in round(127.7) = 128 spans, inputs and targets both 512.
    assert random_spans_helper(512, 0.5, 3.0) == (766, 512)
    assert corrupted_lengths(766, 0.5, 3.0) == (512, 512)
    # raw 191 at 0.5 gives round(95.5) = 96 noise tokens in 32 spans: inputs 128, targets 129 → raw 190.
    assert random_spans_helper(128, 0.5, 3.0) == (190, 128)


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


def test_examples_concatenate_documents_fill_every_row_and_reconstruct_the_stream():
    rng = np.random.default_rng(2)
    documents = [rng.integers(10, 800, n) for n in (5, 70, 71, 300, 1, 2, 140, 33)]
    records = [" ".join(map(str, doc)) for doc in documents]
    rows = rows_in_order(SpanCorruptionExamples(NumberTokenizer(), 64, 14, 0.15, 3.0, START, seed=0), records)
    stream = []
    for x in rows:
        n, m = int(x["segments"].sum()), int(x["decoder_segments"].sum())
        assert x["weights"].sum() == m and x["decoder_inputs"][0] == START
        np.testing.assert_array_equal(x["decoder_inputs"][1:m], x["targets"][: m - 1])
        stream.extend(reconstruct(x["inputs"][:n], x["targets"][:m]))
    assert all(x["segments"].sum() == 64 and x["decoder_segments"].sum() == 14 for x in rows[:-1]), "full rows"
    assert stream == np.concatenate(documents).tolist(), "the rows are the concatenated documents, in order"
    assert len(rows) == -(-len(stream) // 70)


def test_too_few_sentinels_fail_before_any_example():
    few = NumberTokenizer()
    few.sentinel_ids = few.sentinel_ids[:5]  # a 64-token row needs 3 at mean span 3, 9 at mean span 1
    SpanCorruptionExamples(few, 64, 14, 0.15, 3.0, START, seed=0)
    with pytest.raises(JaxlmError, match=r"sentinel <extra_id_8> is not in the tokenizer .*has 5"):
        SpanCorruptionExamples(few, 64, 24, 0.15, 1.0, START, seed=0)


def _t5(target):
    model = {"family": "encoder_decoder", "vocab_size": 512, "d_model": 16, "num_heads": 2, "d_ff": 32,
             "num_layers": 1, "position": "relative"}
    return config_from_dict({"model": model, "data": {"objective": "span_corruption", "seq_length": 512,
                                                      "target_length": target}})


def test_target_length_is_derived_and_too_short_is_a_config_error():
    assert target_length(_t5(0)) == 114 and target_length(_t5(128)) == 128
    with pytest.raises(ConfigError, match=r"data.target_length: 100 is shorter than the 114 targets"):
        target_length(_t5(100))
