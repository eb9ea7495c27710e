"""Fine-tuning: a classifier starts from a pretrained encoder's model-only checkpoint and learns a
local labelled text file."""

import numpy as np

from jaxlm.config import load_config
from jaxlm.data import load_tokenizer
from jaxlm.models import build_model
from jaxlm.train.loop import train
from jaxlm.train.params_io import init_params_from, save_params

ENCODER = ["model.d_model=32", "model.d_ff=64", "model.num_heads=2", "model.num_layers=1"]
POSITIVE = ("good", "great", "fine", "lovely", "excellent")
NEGATIVE = ("bad", "awful", "poor", "terrible", "dreadful")
FILLER = ("the", "function", "returns", "a", "list", "of", "values", "module", "object", "class")


def write_labelled_file(path, rows, seed=0):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(rows):
        label = int(rng.integers(2))
        words = [*rng.choice(FILLER, size=6), rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        lines.append(f"{label}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n")


def test_classifier_fine_tunes_from_a_pretrained_encoder(tmp_path):
    pretrained_cfg = load_config("bert_tiny", ENCODER)
    tokenizer = load_tokenizer(pretrained_cfg)  # the embedded corpus's, shared with the classifier
    pretrained = build_model(pretrained_cfg.model, seed=7)
    save_params(tmp_path / "pretrained", pretrained, pretrained_cfg)

    data = tmp_path / "labelled.tsv"
    write_labelled_file(data, 400)
    classifier = [
        *ENCODER, "model.num_labels=2", "model.mlm_head=false", "model.nsp_head=false",
        "data.objective=classification", "data.source=local", f"data.path={data}", "data.seq_length=16",
        "data.batch_size=16", "data.validation_fraction=0.2", f"data.tokenizer_path={tokenizer.path}",
        "train.steps=40", "train.learning_rate=3e-3", "train.warmup_steps=5", "train.eval_batches=4",
        "train.log_every=20", "train.examples=0", f"train.init_from={tmp_path / 'pretrained'}",
        f"workdir={tmp_path / 'run'}",
    ]
    cfg = load_config("bert_tiny", classifier)

    fresh_model = build_model(cfg.model, seed=0)
    report = init_params_from(tmp_path / "pretrained", fresh_model)
    assert sorted(report.fresh) == ["classifier.dense.bias", "classifier.dense.kernel"]
    assert any(name.startswith("mlm_head") for name in report.unused)
    np.testing.assert_array_equal(fresh_model.embedder.token.embedding[...], pretrained.embedder.token.embedding[...])

    result = train(cfg, progress=False, console=lambda _: None)
    assert result.eval_metrics["accuracy"] >= 0.9, result.eval_metrics
