"""Sentencepiece tokenizer with our special tokens, trained here and cached by content hash.

Vocabulary layout (V = cfg.model.vocab_size, the model's vocabulary):

| ids | tokens |
|---|---|
| 0, 1, 2, 3 | [PAD] (= model.pad_id), [UNK], BOS `<s>`, EOS `</s>` |
| 4, 5, 6 | [CLS], [SEP], [MASK] (user-defined pieces: typing "[MASK]" in text encodes to it) |
| 7 … V-101 | learned pieces (unigram or BPE) |
| V-1 … V-100 | sentinels `<extra_id_0>` … `<extra_id_99>`, counting down from the top (as T5) |

The sentencepiece model holds V - 100 pieces; the sentinels live above it, outside the `.model`
file, exactly as T5's vocabulary adds its extra ids. Training samples at most
`MAX_TRAINING_SENTENCES` sentences, so the embedded corpus trains in a few seconds. A trained
model is saved as `<cache>/tokenizers/<hash>.model`, the hash covering the source's content
fingerprint and every training option, so it trains once.
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
from collections.abc import Iterable, Sequence

import numpy as np

from jaxlm.errors import JaxlmError

PAD, UNK, BOS, EOS, CLS, SEP, MASK = range(7)
SPECIAL_PIECES = ("[PAD]", "[UNK]", "<s>", "</s>", "[CLS]", "[SEP]", "[MASK]")
NUM_SENTINELS = 100
MIN_LEARNED_PIECES = 128
MIN_VOCAB_SIZE = len(SPECIAL_PIECES) + NUM_SENTINELS + MIN_LEARNED_PIECES
MAX_TRAINING_SENTENCES = 8000
TRAINER_VERSION = 1


class Tokenizer:
    """A sentencepiece model plus the sentinel ids above it. `vocab_size` is the model's V."""

    pad_id, unk_id, bos_id, eos_id, cls_id, sep_id, mask_id = PAD, UNK, BOS, EOS, CLS, SEP, MASK

    def __init__(self, model_proto: bytes, vocab_size: int, path: str = ""):
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.vocab_size, self.path = vocab_size, path
        self.num_pieces = self.sp.vocab_size()
        pieces = tuple(self.sp.id_to_piece(i) for i in range(len(SPECIAL_PIECES)))
        if pieces != SPECIAL_PIECES:
            raise JaxlmError(f"data.tokenizer_path: {path or 'model'} starts with {pieces}, not {SPECIAL_PIECES}")
        if self.num_pieces + NUM_SENTINELS > vocab_size:
            raise JaxlmError(
                f"model.vocab_size: {vocab_size} < {self.num_pieces} pieces + {NUM_SENTINELS} sentinels of "
                f"{path or 'the tokenizer'}; set model.vocab_size={self.num_pieces + NUM_SENTINELS}"
            )

    @classmethod
    def load(cls, path: str | pathlib.Path, vocab_size: int) -> Tokenizer:
        file = pathlib.Path(path).expanduser()
        if not file.is_file():
            raise JaxlmError(f"data.tokenizer_path: '{path}' does not exist")
        return cls(file.read_bytes(), vocab_size, str(file))

    def sentinel(self, index: int) -> int:
        """Id of `<extra_id_{index}>`: V - 1 - index."""
        return self.vocab_size - 1 - index

    @property
    def num_learned(self) -> int:
        """Learned pieces occupy ids [len(SPECIAL_PIECES), num_pieces)."""
        return self.num_pieces - len(SPECIAL_PIECES)

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.sp.encode(text), dtype=np.int32)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.asarray(ids, dtype=np.int32) for ids in self.sp.encode(list(texts))]

    def id_to_piece(self, token: int) -> str:
        if token >= self.vocab_size - NUM_SENTINELS:
            return f"<extra_id_{self.vocab_size - 1 - token}>"
        return self.sp.id_to_piece(int(token)) if token < self.num_pieces else "[UNK]"

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; padding is dropped, sentinels print as `<extra_id_i>`."""
        out, run = [], []
        for token in (int(t) for t in ids):
            if token == PAD:
                continue
            if token < self.num_pieces:
                run.append(token)
                continue
            out.append(self.sp.decode(run))
            run = []
            out.append(self.id_to_piece(token))
        out.append(self.sp.decode(run))
        return " ".join(part for part in out if part)

    def word_starts(self) -> np.ndarray:
        """[V] bool: True where a piece begins a word ('▁…', specials, sentinels); for whole-word masking."""
        starts = np.ones(self.vocab_size, dtype=bool)
        for token in range(len(SPECIAL_PIECES), self.num_pieces):
            starts[token] = self.sp.id_to_piece(token).startswith("▁")
        return starts


def check_vocab_size(vocab_size: int) -> None:
    if vocab_size < MIN_VOCAB_SIZE:
        raise JaxlmError(
            f"model.vocab_size: {vocab_size} is too small for {len(SPECIAL_PIECES)} special tokens + "
            f"{NUM_SENTINELS} sentinels + {MIN_LEARNED_PIECES} learned pieces; use at least {MIN_VOCAB_SIZE}"
        )


def training_options(vocab_size: int, model_type: str) -> dict:
    """Sentencepiece trainer options (the learned vocabulary leaves room for the sentinels)."""
    return {
        "model_type": model_type, "vocab_size": vocab_size - NUM_SENTINELS,
        "pad_id": PAD, "unk_id": UNK, "bos_id": BOS, "eos_id": EOS,
        "pad_piece": SPECIAL_PIECES[PAD], "unk_piece": SPECIAL_PIECES[UNK],
        "bos_piece": SPECIAL_PIECES[BOS], "eos_piece": SPECIAL_PIECES[EOS],
        "user_defined_symbols": list(SPECIAL_PIECES[CLS:]),
        "character_coverage": 0.9995, "input_sentence_size": MAX_TRAINING_SENTENCES,
        "shuffle_input_sentence": True, "seed_sentencepiece_size": 100_000,
        "max_sentence_length": 8192, "num_threads": 2, "minloglevel": 2,
    }


def cache_key(fingerprint: str, vocab_size: int, model_type: str) -> str:
    options = json.dumps([TRAINER_VERSION, fingerprint, training_options(vocab_size, model_type)], sort_keys=True)
    return hashlib.sha256(options.encode()).hexdigest()[:20]


def train_tokenizer(sentences: Iterable[str], vocab_size: int, model_type: str) -> bytes:
    """Train sentencepiece on `sentences`; returns the serialised model."""
    import sentencepiece as spm

    check_vocab_size(vocab_size)
    buffer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=buffer, **training_options(vocab_size, model_type)
        )
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise JaxlmError(
            f"model.vocab_size: sentencepiece cannot train {vocab_size} ids on this corpus ({reason})"
        ) from None
    return buffer.getvalue()


def cached_tokenizer(
    cache: pathlib.Path, fingerprint: str, vocab_size: int, model_type: str, sentences: Iterable[str]
) -> Tokenizer:
    """Load `<cache>/tokenizers/<key>.model`, training and saving it first when missing.
    `sentences` is consumed only on a miss (pass a lazy iterable)."""
    check_vocab_size(vocab_size)
    path = cache / "tokenizers" / f"{cache_key(fingerprint, vocab_size, model_type)}.model"
    if not path.is_file():
        proto = train_tokenizer(sentences, vocab_size, model_type)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{id(proto)}.tmp")
        partial.write_bytes(proto)
        partial.replace(path)
    return Tokenizer.load(path, vocab_size)
