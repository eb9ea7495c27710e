"""The held-out report after training: model and unigram baseline scored on validation targets
(checked against a plain numpy recount), and held-out examples printed as text."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jaxlm.cli import main
from jaxlm.config import load_config
from jaxlm.data import load_tokenizer
from jaxlm.infer import held_out
from jaxlm.infer.fill_mask import readable
from jaxlm.infer.held_out import score_held_out, unigram_counts
from jaxlm.models import build_model
from jaxlm.objectives import make_loader


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# The presets' vocabulary (2048) keeps the cached tokenizer shared with the main job.
SMALL = ["model.d_model=32", "model.d_ff=64", "model.num_heads=2", "model.num_layers=1", "model.dropout_rate=0",
         "data.seq_length=32", "data.batch_size=8", "train.eval_batches=1", "train.log_every=5"]


@pytest.fixture(autouse=True)
def fewer_batches(monkeypatch):
    """The report's batch counts cut down to what a test needs."""
    monkeypatch.setattr(held_out, "MAX_BATCHES", 4)
    monkeypatch.setattr(held_out, "BASELINE_BATCHES", 40)


@pytest.mark.parametrize("preset", ["bert_tiny", "gpt2_tiny"])
def test_scores_equal_a_numpy_recount_of_the_validation_targets(preset):
    cfg = load_config(preset, SMALL)
    model = build_model(cfg.model, seed=3)
    tokenizer = load_tokenizer(cfg)
    counts = unigram_counts(cfg, tokenizer) * cfg.model.vocab_size  # ties broken at random: a unique top 5
    counts += np.random.default_rng(0).permutation(cfg.model.vocab_size)
    trained, baseline = score_held_out(cfg, model, tokenizer, counts)

    log_p_unigram = np.log((counts + 1) / (counts.sum() + len(counts)))
    frequent = set(np.argsort(counts)[-5:].tolist())
    nll, top1, top5, base_nll, base_top1, base_top5 = [], [], [], [], [], []
    loader = make_loader(cfg, "validation", process_index=0, process_count=1, tokenizer=tokenizer)
    for batch in itertools.islice(loader, held_out.MAX_BATCHES):
        if preset == "bert_tiny":
            logits = model(batch["inputs"], token_types=batch["token_types"], segments=batch["segments"],
                           mlm_positions=batch["mlm_positions"])["mlm_logits"]
            targets, weights = batch["mlm_targets"], batch["mlm_weights"]
        else:
            logits = model(batch["inputs"], segments=batch["segments"], positions=batch["positions"])["logits"]
            targets, weights = batch["targets"], batch["weights"]
        log_p = log_softmax(np.asarray(logits, np.float64))
        for row, slot in zip(*np.nonzero(weights), strict=True):
            target = targets[row, slot]
            nll.append(-log_p[row, slot, target])
            order = np.argsort(log_p[row, slot])[::-1]
            top1.append(order[0] == target)
            top5.append(target in order[:5])
            base_nll.append(-log_p_unigram[target])
            base_top1.append(target == np.argmax(counts))
            base_top5.append(target in frequent)
    loader.close()
    assert trained.loss == pytest.approx(np.mean(nll), rel=1e-5)
    assert (trained.top1, trained.top5) == pytest.approx((np.mean(top1), np.mean(top5)))
    assert baseline.loss == pytest.approx(np.mean(base_nll), rel=1e-6)
    assert (baseline.top1, baseline.top5) == pytest.approx((np.mean(base_top1), np.mean(base_top5)))
    assert 0 < baseline.top1 < baseline.top5 < 1


@pytest.mark.parametrize(("preset", "example_marks"), [
    ("bert_tiny", ("[MASK]", "answer: ", "   model: ")),
    ("gpt2_tiny", (" …", "model: ", "real:  ")),
    ("t5_tiny", (" ___ ", "model: ", "   real: ")),
])
def test_train_prints_the_held_out_report_with_examples_as_text(tmp_path, capsys, preset, example_marks):
    t5 = ["data.target_length=12"] if preset == "t5_tiny" else []
    args = ["train", preset, *SMALL, *t5, "train.steps=1", "train.eval_batches=0", "train.examples=2",
            "--workdir", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    report = out[out.index("held-out "):].splitlines()
    assert report[0].endswith("(validation text, never trained on):")
    assert report[1].startswith("  model ") and report[2].startswith("  unigram baseline ")
    assert all(" loss " in line and " top-1 " in line and " top-5 " in line for line in report[1:3])
    assert report[3] == "held-out examples:"
    examples = report[4:]
    headers = [line for line in examples if line.startswith("  ") and not line.startswith("      ")]
    assert len(headers) == 2 and all(example_marks[0] in line for line in headers)
    assert all(mark in "\n".join(examples) for mark in example_marks[1:])
    assert "▁" not in out


def test_a_bare_word_boundary_piece_reads_as_space_and_others_as_their_text():
    tokenizer = load_tokenizer(load_config("bert_tiny"))
    boundary = tokenizer.sp.piece_to_id("▁")
    assert tokenizer.id_to_piece(boundary) == "▁"
    assert readable(tokenizer, boundary) == "(space)"
    the = tokenizer.sp.piece_to_id("▁the")
    assert readable(tokenizer, the) == "the"
    assert readable(tokenizer, tokenizer.mask_id) == "[MASK]"
