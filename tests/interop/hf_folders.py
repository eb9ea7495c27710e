"""Tiny Hugging Face folders built here, nothing downloaded: tokenizers trained on the embedded
corpus and saved as transformers saves them (GPT-2's byte-level BPE and BERT's WordPiece as
tokenizer.json + tokenizer_config.json; T5's sentencepiece unigram as spiece.model and a
tokenizer_config.json naming T5Tokenizer, as google's T5 folders have, which transformers
converts on load), each with exactly SIZE ids (sentinels included for T5), and small randomised
models over them. `BUILDERS[kind](folder)` writes a tokenizer, `hf_folder(kind, folder)` a model too."""

from __future__ import annotations

import functools
import io
import json
import pathlib

import sentencepiece as spm
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from jaxlm.data.embedded import embedded_documents
from jaxlm.data.text import sentences
from tests.interop.helpers import randomize

SIZE = 300
T5_SENTINELS = 100


@functools.cache
def _documents() -> tuple[str, ...]:
    return tuple(embedded_documents()[:40])


def gpt2_tokenizer(folder: pathlib.Path) -> pathlib.Path:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=SIZE, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(_documents(), trainer)
    end = "<|endoftext|>"
    transformers.GPT2TokenizerFast(tokenizer_object=tokenizer, bos_token=end, eos_token=end,
                                   unk_token=end).save_pretrained(folder)
    return folder


def bert_tokenizer(folder: pathlib.Path) -> pathlib.Path:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(_documents(), trainers.WordPieceTrainer(vocab_size=SIZE, special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    transformers.BertTokenizerFast(tokenizer_object=tokenizer).save_pretrained(folder)
    return folder


def t5_tokenizer(folder: pathlib.Path) -> pathlib.Path:
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([s for doc in _documents() for s in sentences(doc)]), model_writer=buffer,
        vocab_size=SIZE - T5_SENTINELS, model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>", shuffle_input_sentence=False, minloglevel=2,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spiece.model").write_bytes(buffer.getvalue())
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer", "extra_ids": 100}))
    return folder


BUILDERS = {"gpt2": gpt2_tokenizer, "bert": bert_tokenizer, "t5": t5_tokenizer}


def hf_model(kind: str) -> transformers.PreTrainedModel:
    """A 2-layer, 32-wide GPT2LMHeadModel, BertForPreTraining or T5ForConditionalGeneration (v1.0)
    over SIZE ids, every weight perturbed (`helpers.randomize`)."""
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


def hf_folder(kind: str, folder: pathlib.Path) -> pathlib.Path:
    """A Hugging Face folder of `kind` ('gpt2', 'bert', 't5'): tokenizer files, config.json and weights."""
    BUILDERS[kind](folder)
    hf_model(kind).save_pretrained(folder)
    return folder
