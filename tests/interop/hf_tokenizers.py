"""Tiny Hugging Face tokenizers trained here on the embedded corpus (nothing downloaded), saved as
transformers saves them: GPT-2's byte-level BPE and BERT's WordPiece (tokenizer.json +
tokenizer_config.json), T5's sentencepiece unigram (spiece.model and a tokenizer_config.json
naming T5Tokenizer, as google's T5 folders have; transformers converts it on load). Each has
exactly SIZE ids, sentinels included for T5. `BUILDERS[kind](folder)` writes one into `folder`."""

from __future__ import annotations

import functools
import io
import json
import pathlib

import sentencepiece as spm
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from jaxlm.data.embedded import embedded_documents
from jaxlm.data.text import sentences

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
