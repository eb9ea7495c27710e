"""The path a user takes with a real checkpoint, on tiny Hugging Face folders built here (weights
from transformers, tokenizers trained on the embedded corpus): `jaxlm convert --from-hf` keeps the
tokenizer, `jaxlm generate` / `fill-mask` print what transformers prints, `--to-hf` gives back
the same tokens and logits, and `train.init_from` fine-tunes with the folder's tokenizer."""

import filecmp

import numpy as np
import pytest
import torch
import transformers

from jaxlm.cli import main
from tests.interop.helpers import randomize
from tests.interop.hf_tokenizers import BUILDERS, SIZE

PROMPTS = {"gpt2": "The import statement", "t5": "The import <extra_id_0> statement finds a module."}
STEPS = 20


def hf_model(kind: str) -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    if kind == "gpt2":
        config = transformers.GPT2Config(vocab_size=SIZE, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                         bos_token_id=0, eos_token_id=0)
        return randomize(transformers.GPT2LMHeadModel(config))
    if kind == "bert":
        config = transformers.BertConfig(vocab_size=SIZE, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, max_position_embeddings=64)
        return randomize(transformers.BertForPreTraining(config))
    config = transformers.T5Config(vocab_size=SIZE, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
                                   feed_forward_proj="relu", decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)
    return randomize(transformers.T5ForConditionalGeneration(config))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """{kind: (Hugging Face folder, jaxlm checkpoint)} for gpt2, bert and t5."""
    root = tmp_path_factory.mktemp("real")
    out = {}
    for kind in ("gpt2", "bert", "t5"):
        hf = BUILDERS[kind](root / kind)
        hf_model(kind).save_pretrained(hf)
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


POSITIVE = ("good", "great", "fine", "nice", "correct")
NEGATIVE = ("bad", "wrong", "poor", "broken", "invalid")
FILLER = ("the", "function", "returns", "a", "list", "of", "values", "module", "object", "class")


def test_fine_tuning_the_converted_bert_uses_its_tokenizer(converted, tmp_path, capsys, monkeypatch):
    _, ckpt = converted["bert"]
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(400):
        label = int(rng.integers(2))
        words = [*rng.choice(FILLER, size=6), rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        lines.append(f"{label}\t{' '.join(words)}")
    (tmp_path / "labelled.tsv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("JAXLM_CACHE", str(tmp_path / "cache"))
    out = cli_lines(
        capsys, "train", "--no-progress", str(ckpt / "config.yaml"), f"train.init_from={ckpt}",
        "model.num_labels=2", "model.mlm_head=false", "model.nsp_head=false", "data.objective=classification",
        "data.source=local", f"data.path={tmp_path / 'labelled.tsv'}", "data.seq_length=16", "data.batch_size=16",
        "data.validation_fraction=0.2", "train.steps=40", "train.learning_rate=3e-3", "train.warmup_steps=5",
        "train.eval_batches=4", "train.log_every=20", f"workdir={tmp_path / 'run'}",
    )
    (final,) = [line for line in out if line.startswith("final eval:")]
    accuracy = float(final.split("accuracy ")[1].split(",")[0])
    assert accuracy >= 0.75, final
    assert filecmp.cmp(ckpt / "tokenizer" / "tokenizer.json", tmp_path / "run" / "tokenizer" / "tokenizer.json",
                       shallow=False)
    assert not (tmp_path / "cache").exists()  # no tokenizer of ours was trained
