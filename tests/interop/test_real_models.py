"""The path a user takes with a real checkpoint, on tiny Hugging Face folders built here (weights
from transformers, tokenizers trained on the embedded corpus): `jaxlm convert --from-hf` keeps the
tokenizer, `jaxlm generate` / `fill-mask` print what transformers prints, `--to-hf` gives back
the same tokens and logits. Fine-tuning one: tests/train/test_finetune.py."""

import filecmp

import numpy as np
import pytest
import torch
import transformers

from jaxlm.cli import main
from tests.interop.hf_folders import hf_folder

PROMPTS = {"gpt2": "The import statement", "t5": "The import <extra_id_0> statement finds a module."}
STEPS = 20


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """{kind: (Hugging Face folder, jaxlm checkpoint)} for gpt2, bert and t5."""
    root = tmp_path_factory.mktemp("real")
    out = {}
    for kind in ("gpt2", "bert", "t5"):
        hf = hf_folder(kind, root / kind)
        assert main(["convert", "--from-hf", str(hf), "--out", str(root / f"{kind}-ckpt")]) == 0
        out[kind] = (hf, root / f"{kind}-ckpt")
    return out


def cli_lines(capsys, *argv: str) -> list[str]:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out.splitlines()


def test_convert_keeps_the_folders_tokenizer(converted):
    for kind, kept in (("gpt2", "tokenizer.json"), ("bert", "tokenizer.json"), ("t5", "spiece.model")):
        hf, ckpt = converted[kind]
        assert filecmp.cmp(hf / kept, ckpt / "tokenizer" / kept, shallow=False)


@pytest.mark.parametrize("kind", ["gpt2", "t5"])
def test_generate_prints_what_transformers_generate_and_decode_print(converted, capsys, kind):
    hf, ckpt = converted[kind]
    prompt = PROMPTS[kind]
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf)
    model = transformers.AutoModelForSeq2SeqLM if kind == "t5" else transformers.AutoModelForCausalLM
    model = model.from_pretrained(hf).eval()
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=STEPS, do_sample=False, num_beams=1,
                             pad_token_id=tokenizer.pad_token_id or 0)[0].tolist()
    new = out[1:] if kind == "t5" else out[inputs.input_ids.shape[1]:]  # T5 starts from the pad id
    eos = model.generation_config.eos_token_id
    new = new[: new.index(eos)] if eos in new else new
    expected = tokenizer.decode([t for t in new if t != tokenizer.pad_token_id], skip_special_tokens=False)
    assert len(new) > 3
    (line,) = cli_lines(capsys, "generate", str(ckpt), "--prompt", prompt, "--max-new-tokens", str(STEPS))
    assert line.rstrip() == f"{prompt} → {expected}".rstrip()


def test_fill_mask_predicts_the_top_token_of_the_transformers_pipeline(converted, capsys):
    hf, ckpt = converted["bert"]
    text = "The [MASK] statement imports a module."
    (best,) = transformers.pipeline("fill-mask", model=str(hf), tokenizer=str(hf), top_k=1)(text)
    lines = cli_lines(capsys, "fill-mask", str(ckpt), "--text", text, "--top-k", "1")
    assert lines[0] == text.replace("[MASK]", best["token_str"])


@pytest.mark.parametrize("kind", ["gpt2", "bert", "t5"])
def test_to_hf_round_trip_gives_identical_tokens_and_logits(converted, tmp_path, kind):
    hf, ckpt = converted[kind]
    assert main(["convert", "--to-hf", str(ckpt), "--out", str(tmp_path / "back")]) == 0
    auto = {"gpt2": transformers.AutoModelForCausalLM, "bert": transformers.AutoModelForPreTraining,
            "t5": transformers.AutoModelForSeq2SeqLM}[kind]
    tokens = [transformers.AutoTokenizer.from_pretrained(folder)(PROMPTS["t5"], return_tensors="pt")
              for folder in (hf, tmp_path / "back")]
    assert tokens[0].input_ids.tolist() == tokens[1].input_ids.tolist()
    inputs = {"input_ids": tokens[0].input_ids}
    if kind == "t5":
        inputs["decoder_input_ids"] = tokens[0].input_ids[:, :4]
    with torch.no_grad():
        logits = [auto.from_pretrained(folder).eval()(**inputs)[0].numpy() for folder in (hf, tmp_path / "back")]
    np.testing.assert_array_equal(logits[1], logits[0])
