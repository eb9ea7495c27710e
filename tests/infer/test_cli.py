"""`jaxlm generate` and `jaxlm fill-mask` end to end on model-only checkpoints, with a word-level
stand-in for the run's tokenizer."""

import numpy as np
import pytest

import jaxlm.train.trained
from jaxlm.cli import main
from jaxlm.config import Config, DataConfig
from jaxlm.infer.generate import generate
from jaxlm.models import build_model
from jaxlm.train.params_io import save_params
from tests.infer.helpers import WordTokenizer, encoder_config, tiny_model


@pytest.fixture
def word_tokenizer(monkeypatch):
    tokenizer = WordTokenizer()
    monkeypatch.setattr(jaxlm.train.trained, "run_tokenizer", lambda cfg, folder: tokenizer)
    return tokenizer


def test_generate_command_prints_the_greedy_continuation_of_each_prompt(tmp_path, word_tokenizer, capsys):
    model = tiny_model("decoder")
    save_params(tmp_path / "ckpt", model, Config(model=model.config))
    prompts = ["the cat sat", "a dog"]
    assert main(["generate", str(tmp_path / "ckpt"), "--prompt", prompts[0], "--prompt", prompts[1],
                 "--max-new-tokens", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for prompt, line in zip(prompts, lines, strict=True):
        ids = [word_tokenizer.bos_id, *word_tokenizer.encode(prompt)]
        new = [int(t) for t in np.asarray(generate(model, np.array([ids]), max_new_tokens=4))[0]]
        if word_tokenizer.eos_id in new:
            new = new[: new.index(word_tokenizer.eos_id)]
        assert line.rstrip() == f"{prompt} → {word_tokenizer.decode(new)}".rstrip()


def test_fill_mask_command_fills_each_mask_and_lists_candidates(tmp_path, word_tokenizer, capsys):
    cfg = encoder_config()
    save_params(tmp_path / "bert", build_model(cfg), Config(model=cfg, data=DataConfig(objective="mlm_nsp")))
    assert main(["fill-mask", str(tmp_path / "bert"), "--text", "the [MASK] sat on [MASK] mat", "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("the ") and "[MASK]" not in lines[0]
    assert lines[1].startswith("  [MASK] 1:") and lines[2].startswith("  [MASK] 2:")


def test_commands_report_user_errors_in_one_line(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "nothing"), "--prompt", "x", "--top-p", "0"]) == 2
    assert main(["fill-mask", "bert_tiny", "--workdir", str(tmp_path / "run"), "--text", "no mask"]) == 2
    assert main(["generate", "gpt2_tiny", "--workdir", str(tmp_path / "run"), "--prompt", "x"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
    assert errors[2].startswith(f"error: no run in {tmp_path / 'run'}")
    assert not (tmp_path / "run").exists()  # read-only: nothing created
