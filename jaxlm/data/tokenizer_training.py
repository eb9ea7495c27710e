"""Our sentencepiece tokenizer: trained here on the train split, deterministically, cached by content hash.

Pieces (ids): `[PAD]` 0, `[UNK]` 1, `<s>` 2, `</s>` 3, `[CLS]` 4, `[SEP]` 5, `[MASK]` 6 (user-defined:
typing "[MASK]" in text encodes to it), then learned pieces, then 100 sentinels above the model
(see tokenizer_sentencepiece.py). Training asks for V − 100 pieces (V = model.vocab_size) as a soft
limit: a corpus too small for that many (gpt2_small's 50,257 on the embedded corpus) gives fewer,
and the model's extra rows stay unused.

Determinism: the same text and options give a byte-identical model. Sentencepiece's own sampling
(`shuffle_input_sentence`) draws from an unseeded generator, so we sample instead: a reservoir of
at most MAX_TRAINING_SENTENCES sentences drawn with a fixed seed (Li's algorithm L), handed to
one trainer thread in order. A model is saved as `<cache>/tokenizers/<key>.model`, the key
hashing TRAINER_VERSION, the source's content fingerprint and every option, so it trains once.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pathlib
from collections.abc import Iterable

import numpy as np

from jaxlm.data.tokenizer_sentencepiece import NUM_SENTINELS, SentencePieceTokenizer
from jaxlm.errors import JaxlmError

SPECIAL_PIECES = ("[PAD]", "[UNK]", "<s>", "</s>", "[CLS]", "[SEP]", "[MASK]")
MIN_LEARNED_PIECES = 128
MIN_VOCAB_SIZE = len(SPECIAL_PIECES) + NUM_SENTINELS + MIN_LEARNED_PIECES
MAX_TRAINING_SENTENCES = 8000
SAMPLE_SEED = 0
TRAINER_VERSION = 2


def check_vocab_size(vocab_size: int) -> None:
    if vocab_size < MIN_VOCAB_SIZE:
        raise JaxlmError(
            f"model.vocab_size: {vocab_size} is too small for {len(SPECIAL_PIECES)} special tokens + "
            f"{NUM_SENTINELS} sentinels + {MIN_LEARNED_PIECES} learned pieces; use at least {MIN_VOCAB_SIZE}"
        )


def training_options(vocab_size: int, model_type: str) -> dict:
    """Sentencepiece trainer options (the learned vocabulary leaves room for the sentinels)."""
    return {
        "model_type": model_type, "vocab_size": vocab_size - NUM_SENTINELS, "hard_vocab_limit": False,
        "pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3,
        "pad_piece": SPECIAL_PIECES[0], "unk_piece": SPECIAL_PIECES[1],
        "bos_piece": SPECIAL_PIECES[2], "eos_piece": SPECIAL_PIECES[3],
        "user_defined_symbols": list(SPECIAL_PIECES[4:]),
        "character_coverage": 0.9995, "input_sentence_size": 0, "shuffle_input_sentence": False,
        "seed_sentencepiece_size": 100_000, "max_sentence_length": 8192, "num_threads": 1, "minloglevel": 2,
    }


def cache_key(fingerprint: str, vocab_size: int, model_type: str) -> str:
    options = json.dumps([TRAINER_VERSION, fingerprint, SAMPLE_SEED, MAX_TRAINING_SENTENCES,
                          training_options(vocab_size, model_type)], sort_keys=True)
    return hashlib.sha256(options.encode()).hexdigest()[:20]


def sample_sentences(sentences: Iterable[str], size: int, seed: int = SAMPLE_SEED) -> list[str]:
    """A uniform sample of at most `size` sentences of a stream (reservoir sampling, Li's
    algorithm L: O(size · log(n / size)) random draws), the same for the same stream and seed."""
    rng = np.random.default_rng(seed)
    stream = iter(sentences)
    reservoir = [s for _, s in zip(range(size), stream, strict=False)]
    def draw() -> float:  # in (0, 1], so its log is finite
        return 1.0 - rng.random()

    weight = math.exp(math.log(draw()) / size)
    while True:
        skip = math.floor(math.log(draw()) / math.log(1.0 - weight)) if weight < 1.0 else 0
        for _ in range(skip):
            if next(stream, None) is None:
                return reservoir
        item = next(stream, None)
        if item is None:
            return reservoir
        reservoir[int(rng.integers(size))] = item
        weight *= math.exp(math.log(draw()) / size)


def train_tokenizer(sentences: Iterable[str], vocab_size: int, model_type: str, source: str = "the corpus") -> bytes:
    """Train sentencepiece on a sample of `sentences`; returns the serialised model. `source`
    names the training text in errors."""
    import sentencepiece as spm

    check_vocab_size(vocab_size)
    sample = sample_sentences(sentences, MAX_TRAINING_SENTENCES)
    buffer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sample), model_writer=buffer, **training_options(vocab_size, model_type)
        )
    except RuntimeError as error:
        message = str(error).strip()
        if "KeyboardInterrupt" in message:
            raise KeyboardInterrupt from None
        reason = message.splitlines()[-1] if message else type(error).__name__
        raise JaxlmError(f"data: sentencepiece cannot train a tokenizer on the text of {source} ({reason}); "
                         "check that it is text (and model.vocab_size)") from None
    return buffer.getvalue()


def cached_tokenizer(
    cache: pathlib.Path, fingerprint: str, vocab_size: int, model_type: str, sentences: Iterable[str],
    source: str = "the corpus",
) -> SentencePieceTokenizer:
    """Load `<cache>/tokenizers/<key>.model`, training and saving it first when missing.
    `sentences` is consumed only on a miss (pass a lazy iterable)."""
    check_vocab_size(vocab_size)
    path = cache / "tokenizers" / f"{cache_key(fingerprint, vocab_size, model_type)}.model"
    if not path.is_file():
        proto = train_tokenizer(sentences, vocab_size, model_type, source)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(proto)
            partial.replace(path)
        except OSError as error:
            raise JaxlmError(f"cannot write the tokenizer cache {path.parent} ({error.strerror}); "
                             "set JAXLM_CACHE to a writable folder") from None
    tokenizer = SentencePieceTokenizer.load(path)
    if tuple(tokenizer.id_to_piece(i) for i in range(len(SPECIAL_PIECES))) != SPECIAL_PIECES:
        raise JaxlmError(f"{path}: a cached tokenizer without jaxlm's special pieces; delete the file to retrain it")
    return tokenizer
