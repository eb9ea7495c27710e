import numpy as np
import pytest

from jaxlm.errors import JaxlmError
from jaxlm.objectives.bert import BertExamples, BertRecipe, document_instances, mask_tokens, truncate_pair
from tests.objectives.conftest import NumberTokenizer, rows_in_order

CLS, SEP, MASK, V = 4, 5, 6, 1000


def recipe(seq_length=128, **kw):
    return BertRecipe(seq_length=seq_length, max_predictions=round(seq_length * 0.15), vocab_size=V, cls_id=CLS,
                      sep_id=SEP, mask_id=MASK, random_low=7, random_high=900, **kw)


def corpus(rng, docs=40):
    """Documents of 20-60 sentences of 3-20 tokens; token ids encode (document, sentence)."""
    return [[np.full(rng.integers(3, 21), 100 + d * 17 + s % 17, np.int32) for s in range(rng.integers(20, 61))]
            for d in range(docs)]


def random_segment(docs, index, rng):
    """About n tokens from a random start of a random other document of `docs`."""

    def segment(n):
        other = docs[(index + int(rng.integers(1, len(docs)))) % len(docs)]
        tokens = []
        for sentence in other[int(rng.integers(len(other))) :]:
            tokens.extend(sentence.tolist())
            if len(tokens) >= n:
                break
        return tokens

    return segment


@pytest.fixture(scope="module")
def instances():
    rng = np.random.default_rng(0)
    docs = corpus(rng)
    r = recipe()
    out = []
    for _ in range(12):
        for i in range(len(docs)):
            out.extend(document_instances(docs[i], r, rng, random_segment(docs, i, rng)))
    return out


def test_masking_statistics_follow_the_recipe(instances):
    total = masked = to_mask = kept = randomised = 0
    rng = np.random.default_rng(1)
    r = recipe()
    for _ in range(3000):
        tokens = [CLS, *rng.integers(900, 1000, 60).tolist(), SEP, *rng.integers(900, 1000, 60).tolist(), SEP]
        out, positions, targets = mask_tokens(tokens, r, rng)
        total += len(tokens)
        masked += len(positions)
        for p, t in zip(positions, targets, strict=True):
            assert tokens[p] == t
            to_mask += out[p] == MASK
            kept += out[p] == t
            randomised += 7 <= out[p] < 900
    assert abs(masked / total - 0.15) < 0.01
    assert abs(to_mask / masked - 0.8) < 0.02
    assert abs(kept / masked - 0.1) < 0.02
    assert abs(randomised / masked - 0.1) < 0.02


def test_instances_mask_about_15_percent_and_never_cls_or_sep(instances):
    real = sum(int(x["segments"].sum()) for x in instances)
    masked = sum(float(x["mlm_weights"].sum()) for x in instances)
    assert len(instances) > 1000
    assert abs(masked / real - 0.15) < 0.01
    for x in instances:
        n = int(x["mlm_weights"].sum())
        positions, targets = x["mlm_positions"][:n], x["mlm_targets"][:n]
        assert not np.isin(targets, [CLS, SEP]).any()
        assert np.all(np.diff(positions) > 0) and positions.max() < x["segments"].sum()
        assert x["inputs"][0] == CLS and np.sum(x["inputs"] == SEP) == 2


def test_nsp_negatives_are_half_and_come_from_other_documents(instances):
    labels = np.array([int(x["nsp_labels"]) for x in instances])
    assert abs(labels.mean() - 0.5) < 0.03
    for x in instances[:300]:
        n = int(x["segments"].sum())
        untouched = np.ones(n, bool)
        untouched[x["mlm_positions"][x["mlm_weights"] > 0]] = False
        untouched[[0, n - 1]] = False
        tokens, types = x["inputs"][:n], x["token_types"][:n]
        docs_a = {(t - 100) // 17 for t in tokens[(types == 0) & untouched] if t != SEP}
        docs_b = {(t - 100) // 17 for t in tokens[(types == 1) & untouched]}
        if docs_a and docs_b:
            assert (docs_a == docs_b) == (x["nsp_labels"] == 0)


def test_segments_and_token_types_lay_out_cls_a_sep_b_sep(instances):
    for x in instances[:200]:
        n = int(x["segments"].sum())
        seps = np.flatnonzero(x["inputs"][:n] == SEP)
        assert seps[-1] == n - 1 and n <= 128
        np.testing.assert_array_equal(x["token_types"][: seps[0] + 1], 0)
        np.testing.assert_array_equal(x["token_types"][seps[0] + 1 : n], 1)
        assert not x["segments"][n:].any() and not x["inputs"][n:].any()


def test_pair_truncation_trims_the_longer_side_to_the_budget():
    rng = np.random.default_rng(0)
    a, b = list(range(50)), list(range(100, 110))
    truncate_pair(a, b, 30, rng)
    assert len(a) == 20 and b == list(range(100, 110))
    assert a != list(range(20)) and a != list(range(30, 50)), "trimmed from both ends at random"


def test_whole_word_masking_masks_all_pieces_of_a_word():
    starts = np.ones(V, bool)
    starts[500:] = False  # ids >= 500 continue the previous word
    r = recipe(seq_length=64, word_starts=starts)
    rng = np.random.default_rng(0)
    for _ in range(200):
        words = [[int(rng.integers(100, 500)), *rng.integers(500, 1000, rng.integers(0, 3)).tolist()]
                 for _ in range(15)]
        tokens = [CLS, *[t for w in words for t in w], SEP]
        _, positions, _ = mask_tokens(tokens, r, rng)
        chosen = set(positions)
        start = 1
        for word in words:
            span = set(range(start, start + len(word)))
            assert span <= chosen or not span & chosen
            start += len(word)


def _documents_of(x):
    """(documents of segment A, documents of segment B) from the unmasked tokens of an instance."""
    n = int(x["segments"].sum())
    tokens, types = x["inputs"][:n].copy(), x["token_types"][:n]
    chosen = x["mlm_weights"] > 0
    tokens[x["mlm_positions"][chosen]] = x["mlm_targets"][chosen]  # undo the masking
    real = (tokens != CLS) & (tokens != SEP)
    return set(tokens[real & (types == 0)] - 100), set(tokens[real & (types == 1)] - 100)


def test_loader_nsp_negatives_come_from_other_documents_across_the_whole_corpus():
    documents = 300
    records = [" ".join(f"{100 + d} {100 + d} {100 + d} {100 + d}." for _ in range(4)) for d in range(documents)]
    r = BertRecipe(seq_length=32, max_predictions=5, vocab_size=1000, cls_id=CLS, sep_id=SEP, mask_id=MASK,
                   random_low=950, random_high=1000)
    rows = rows_in_order(BertExamples(r, NumberTokenizer(), records, seed=0), records)
    negatives = []
    for x in rows:
        (a,), (b,) = _documents_of(x)
        assert (a != b) == bool(x["nsp_labels"]), "label 1 exactly when B comes from another document"
        if x["nsp_labels"]:
            negatives.append((a, b))
    assert len(negatives) > 100
    assert len({b for _, b in negatives}) > 100, "negatives are drawn from many documents"
    far = np.mean([abs(a - b) > 64 for a, b in negatives])
    assert far > 0.4, "negatives reach beyond a window of neighbouring documents"


def test_bert_examples_need_two_documents():
    r = recipe()
    with pytest.raises(JaxlmError, match=r"mlm_nsp draws NSP negatives from other documents but a split has 1"):
        BertExamples(r, NumberTokenizer(), ["101 102 103."], seed=0)
