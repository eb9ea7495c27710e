import numpy as np

from jaxlm.data.packing import pack_sequences
from jaxlm.objectives.causal_lm import causal_lm_examples


def _seq(values):
    values = np.asarray(values, np.int32)
    return {"inputs": values, "targets": values + 100}


def test_packing_numbers_segments_and_restarts_positions():
    rows = pack_sequences([_seq([1, 2, 3]), _seq([4, 5]), _seq([6, 7, 8, 9])], 6)
    assert len(rows) == 2
    np.testing.assert_array_equal(rows[0]["inputs"], [1, 2, 3, 4, 5, 0])
    np.testing.assert_array_equal(rows[0]["segments"], [1, 1, 1, 2, 2, 0])
    np.testing.assert_array_equal(rows[0]["positions"], [0, 1, 2, 0, 1, 0])
    np.testing.assert_array_equal(rows[1]["segments"], [1, 1, 1, 1, 0, 0])


def test_causal_packing_never_lets_a_token_see_or_predict_across_documents():
    rng = np.random.default_rng(0)
    docs = [np.arange(1000 * d, 1000 * d + rng.integers(1, 40), dtype=np.int32) for d in range(1, 30)]
    rows = causal_lm_examples(docs, 16, bos=2, eos=3, rng=rng)
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
            seen += int(np.sum(targets >= 1000)) + int(np.sum(targets == 3))
        attend = (segments[:, None] == segments[None, :]) & (segments[None, :] > 0)
        tokens_doc = np.where(row["inputs"] >= 1000, row["inputs"] // 1000, -1)
        for q, k in zip(*np.nonzero(attend), strict=True):
            assert tokens_doc[q] == tokens_doc[k] or -1 in (tokens_doc[q], tokens_doc[k])
    assert seen == sum(len(d) + 1 for d in docs), "every token and each EOS is predicted exactly once"
