"""The presets named after published models prepare and train on the embedded corpus on CPU: their
tokenizer has fewer pieces than the model has rows (the extra rows stay unused), their recipes
(Adafactor for T5, AdamW as everywhere else) run. The model is shrunk, the vocabulary is not."""

import pytest

from jaxlm.cli import main
from jaxlm.config import load_config
from jaxlm.data import folder_tokenizer

SHRINK = ["model.d_model=32", "model.num_heads=2", "model.d_ff=64", "model.num_layers=1", "data.seq_length=32",
          "data.batch_size=8", "train.steps=2", "train.eval_batches=0", "train.log_every=1", "train.examples=0"]
EXTRA = {"bert_base": [], "gpt2_small": [], "t5_small": ["model.head_dim=16", "data.target_length=0"],
         "t5_v1_1_small": ["model.head_dim=16", "data.target_length=0"]}


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("JAXLM_CACHE", str(tmp_path_factory.getbasetemp() / "presets-cache"))


@pytest.mark.parametrize("preset", ["bert_base", "gpt2_small", "t5_small"])
def test_prepare_reports_a_tokenizer_smaller_than_the_model(preset, capsys):
    assert main(["prepare", preset, *SHRINK, *EXTRA[preset]]) == 0
    rows = load_config(preset).model.vocab_size
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("tokenizer:")]
    assert f"model rows {rows:,}" in line


@pytest.mark.parametrize("preset", ["bert_base", "gpt2_small", "t5_small", "t5_v1_1_small"])
def test_trains_with_its_recipe_and_keeps_its_tokenizer(preset, tmp_path, capsys):
    """Every row of the published vocabulary is kept (shrinking the width only), so the run trains
    a model with more embedding rows than its tokenizer has pieces, with the preset's optimizer."""
    assert main(["train", "--no-progress", preset, *SHRINK, *EXTRA[preset], f"workdir={tmp_path}"]) == 0
    assert "train loss: step 1" in capsys.readouterr().out
    tokenizer = folder_tokenizer(tmp_path)
    assert tokenizer.vocab_size < load_config(preset).model.vocab_size
    saved = load_config(str(tmp_path / "config.yaml"))
    assert saved.model.vocab_size == load_config(preset).model.vocab_size
    recipe = "adafactor" if preset.startswith("t5") else "adamw"
    assert saved.train.optimizer == load_config(preset).train.optimizer == recipe
