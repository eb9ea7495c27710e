import numpy as np
import pytest

from jaxlm.errors import JaxlmError
from jaxlm.objectives.causal_lm import CausalLMExamples
from tests.objectives.conftest import NumberTokenizer, rows_in_order

BOS, EOS = NumberTokenizer.bos_id, NumberTokenizer.eos_id


def test_pieces_are_packed_greedily_with_segments_and_restarting_positions():
    records = ["11 12", "21", "31 32 33"]  # pieces [BOS 11 12], [BOS 21], [BOS 31 32 33] of 3, 2, 4 tokens
    rows = rows_in_order(CausalLMExamples(NumberTokenizer(), 6), records)
    assert len(rows) == 2
    np.testing.assert_array_equal(rows[0]["inputs"], [BOS, 11, 12, BOS, 21, 0])
    np.testing.assert_array_equal(rows[0]["targets"], [11, 12, EOS, 21, EOS, 0])
    np.testing.assert_array_equal(rows[0]["segments"], [1, 1, 1, 2, 2, 0])
    np.testing.assert_array_equal(rows[0]["positions"], [0, 1, 2, 0, 1, 0])
    np.testing.assert_array_equal(rows[1]["segments"], [1, 1, 1, 1, 0, 0])
    assert all(row["inputs"].dtype == np.int32 and row["weights"].dtype == np.float32 for row in rows)


def test_causal_packing_never_lets_a_token_see_or_predict_across_documents():
    rng = np.random.default_rng(0)
    docs = [np.arange(1000 * d, 1000 * d + rng.integers(1, 40)) for d in range(1, 30)]
    rows = rows_in_order(CausalLMExamples(NumberTokenizer(), 16), [" ".join(map(str, doc)) for doc in docs])
    seen = 0
    for row in rows:
        segments, positions, weights = row["segments"], row["positions"], row["weights"]
        np.testing.assert_array_equal(weights, (segments > 0).astype(np.float32))
        for segment in set(segments[segments > 0].tolist()):
            where = np.flatnonzero(segments == segment)
            assert np.all(np.diff(where) == 1), "a document piece is contiguous"
            np.testing.assert_array_equal(positions[where], np.arange(len(where)))
            inputs, targets = row["inputs"][where], row["targets"][where]
            np.testing.assert_array_equal(inputs[1:], targets[:-1])  # targets are the next inputs
            doc_ids = {t // 1000 for t in np.concatenate([inputs, targets]) if t >= 1000}
            assert len(doc_ids) <= 1, "one piece never mixes documents"
            seen += int(np.sum(targets >= 1000)) + int(np.sum(targets == EOS))
        attend = (segments[:, None] == segments[None, :]) & (segments[None, :] > 0)
        tokens_doc = np.where(row["inputs"] >= 1000, row["inputs"] // 1000, -1)
        for q, k in zip(*np.nonzero(attend), strict=True):
            assert tokens_doc[q] == tokens_doc[k] or -1 in (tokens_doc[q], tokens_doc[k])
    assert seen == sum(len(d) + 1 for d in docs), "every token and each EOS is predicted exactly once"


def test_a_tokenizer_without_bos_starts_documents_with_their_first_token_and_one_without_eos_is_refused():
    no_bos = NumberTokenizer()
    no_bos.bos_id = None  # as GPT-2's: documents only end with <|endoftext|>
    rows = rows_in_order(CausalLMExamples(no_bos, 6), ["11 12", "21"])
    np.testing.assert_array_equal(rows[0]["inputs"], [11, 12, 21, 0, 0, 0])
    np.testing.assert_array_equal(rows[0]["targets"], [12, EOS, EOS, 0, 0, 0])
    no_eos = NumberTokenizer()
    no_eos.eos_id = None
    with pytest.raises(JaxlmError, match=r"data.objective=causal_lm needs the tokenizer's end-of-sequence token"):
        CausalLMExamples(no_eos, 6)
