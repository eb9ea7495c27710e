"""A run folder is self-contained: its resolved config.yaml and tokenizer/ travel with it, so
`generate`, `fill-mask`, `eval` and `convert --to-hf` work on it moved and with the tokenizer cache cleared;
`train.init_from` brings the checkpoint's tokenizer or says in one line why it cannot."""

import shutil

import pytest
import yaml

from jaxlm.cli import main
from jaxlm.config import config_from_dict, load_config
from jaxlm.data import folder_tokenizer, load_tokenizer, save_tokenizer
from jaxlm.errors import JaxlmError
from jaxlm.models import build_model
from jaxlm.train.loop import train
from jaxlm.train.params_io import save_params
from tests.train.helpers import TINY_MODEL

RUN = [*[o for o in TINY_MODEL if not o.startswith("model.vocab_size")], "model.vocab_size=400",
       "data.seq_length=32", "data.batch_size=8", "train.steps=3", "train.eval_batches=1", "train.log_every=1",
       "train.examples=0", "data.tokenizer=bpe"]


def lines(capsys, *argv: str) -> list[str]:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out.splitlines()


def test_a_moved_run_without_the_cache_generates_evaluates_and_converts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JAXLM_CACHE", str(tmp_path / "cache"))
    cfg = load_config("gpt2_tiny", [*RUN, f"workdir={tmp_path / 'run'}"])
    train(cfg, progress=False, console=lambda _: None)
    assert config_from_dict(yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())) == cfg
    assert folder_tokenizer(tmp_path / "run").encode("a for loop").tolist() == \
        load_tokenizer(cfg).encode("a for loop").tolist()
    generate = ["--prompt", "The import statement", "--max-new-tokens", "6"]
    before = lines(capsys, "generate", str(tmp_path / "run"), *generate)

    (tmp_path / "run").rename(tmp_path / "moved")
    shutil.rmtree(tmp_path / "cache")
    assert lines(capsys, "generate", str(tmp_path / "moved"), *generate) == before
    evaluated = lines(capsys, "eval", str(tmp_path / "moved"), "--batches", "1")
    assert evaluated[0].startswith("gpt2_tiny step 3") and any("loss" in line for line in evaluated)
    lines(capsys, "convert", "--to-hf", str(tmp_path / "moved"), "--out", str(tmp_path / "hf"))
    assert (tmp_path / "hf" / "model.safetensors").is_file() and (tmp_path / "hf" / "spiece.model").is_file()
    assert not (tmp_path / "cache").exists()


def test_a_moved_encoder_run_without_the_cache_fills_masks_as_before(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JAXLM_CACHE", str(tmp_path / "cache"))
    train(load_config("bert_tiny", [*RUN, f"workdir={tmp_path / 'run'}"]), progress=False, console=lambda _: None)
    fill = ["--text", "A list is a [MASK] of items.", "--top-k", "3"]
    before = lines(capsys, "fill-mask", str(tmp_path / "run"), *fill)
    (tmp_path / "run").rename(tmp_path / "moved")
    shutil.rmtree(tmp_path / "cache")
    assert lines(capsys, "fill-mask", str(tmp_path / "moved"), *fill) == before
    assert before[1].startswith("  [MASK] 1: ") and len(before[1].split("  ")) == 1 + 3 and "▁" not in before[1]


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    """A model-only checkpoint of a 400-row tiny GPT keeping its (BPE) tokenizer."""
    monkeypatch.setenv("JAXLM_CACHE", str(tmp_path / "cache"))
    cfg = load_config("gpt2_tiny", RUN)
    save_params(tmp_path / "ckpt", build_model(cfg.model), cfg)
    save_tokenizer(load_tokenizer(cfg), tmp_path / "ckpt")
    return tmp_path / "ckpt"


@pytest.mark.parametrize(("override", "message"), [
    ("model.vocab_size=512", r"model\.vocab_size: 512, but train\.init_from=.* has 400 rows .*; set .*=400"),
    ("data.tokenizer_path=elsewhere.json", r"data\.tokenizer_path: train\.init_from=.* brings its own tokenizer"),
])
def test_init_from_says_why_its_tokenizer_cannot_be_used(checkpoint, tmp_path, override, message):
    cfg = load_config("gpt2_tiny", [*RUN, f"train.init_from={checkpoint}", override, f"workdir={tmp_path / 'run'}"])
    with pytest.raises(JaxlmError, match=message) as error:
        train(cfg, progress=False, console=lambda _: None)
    assert "\n" not in str(error.value)
    assert not any((tmp_path / "run").iterdir())  # nothing written before the check
