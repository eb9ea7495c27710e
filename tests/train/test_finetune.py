"""Fine-tuning: a classifier starts from a converted Hugging Face BERT (`jaxlm convert --from-hf`,
then `jaxlm train CKPT/config.yaml train.init_from=CKPT ...`), learns a local labelled text file,
and tokenizes it with the checkpoint's own tokenizer."""

import filecmp

import numpy as np

from jaxlm.cli import main
from jaxlm.config import load_config
from jaxlm.models import build_model
from jaxlm.train.params_io import init_params_from, load_params
from tests.interop.hf_folders import hf_folder

POSITIVE = ("good", "great", "fine", "nice", "correct")
NEGATIVE = ("bad", "wrong", "poor", "broken", "invalid")
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


def test_classifier_fine_tunes_a_converted_bert_with_its_tokenizer(tmp_path, capsys, monkeypatch):
    hf, ckpt = hf_folder("bert", tmp_path / "hf"), tmp_path / "ckpt"
    assert main(["convert", "--from-hf", str(hf), "--out", str(ckpt)]) == 0
    write_labelled_file(tmp_path / "labelled.tsv", 400)
    classifier = [
        f"train.init_from={ckpt}", "model.num_labels=2", "model.mlm_head=false", "model.nsp_head=false",
        "data.objective=classification", "data.source=local", f"data.path={tmp_path / 'labelled.tsv'}",
        "data.seq_length=16", "data.batch_size=16", "data.validation_fraction=0.2", "train.steps=40",
        "train.learning_rate=3e-3", "train.warmup_steps=5", "train.eval_batches=4", "train.log_every=20",
        f"workdir={tmp_path / 'run'}",
    ]
    model = build_model(load_config(str(ckpt / "config.yaml"), classifier).model)
    report = init_params_from(ckpt, model)
    assert sorted(report.fresh) == ["classifier.dense.bias", "classifier.dense.kernel"]
    assert any(name.startswith("mlm_head") for name in report.unused)
    assert any(name.startswith("nsp") for name in report.unused)
    pretrained = load_params(ckpt)[1]
    np.testing.assert_array_equal(model.embedder.token.embedding[...], pretrained.embedder.token.embedding[...])

    monkeypatch.setenv("JAXLM_CACHE", str(tmp_path / "cache"))
    capsys.readouterr()
    assert main(["train", "--no-progress", str(ckpt / "config.yaml"), *classifier]) == 0
    (final,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("final eval:")]
    assert float(final.split("accuracy ")[1].split(",")[0]) >= 0.8, final
    assert filecmp.cmp(ckpt / "tokenizer" / "tokenizer.json", tmp_path / "run" / "tokenizer" / "tokenizer.json",
                       shallow=False)
    assert not (tmp_path / "cache").exists()  # no tokenizer of ours was trained
