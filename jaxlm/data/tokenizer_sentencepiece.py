"""A sentencepiece model with T5's extra ids above it: ours (trained here) and T5's `spiece.model`.

    ids 0 … P-1              the model's P pieces (its pad / unk / bos / eos pieces among them)
    ids P … P+99             sentinels <extra_id_99> … <extra_id_0>: <extra_id_i> = P + 100 − 1 − i

exactly as T5's vocabulary adds its extra ids (t5-small: 32,000 pieces + 100 = 32,100 ids, in a
model of 32,128 rows). Role ids come from the model: its pad / unk / bos / eos pieces, and the
user-defined pieces `[CLS]`, `[SEP]`, `[MASK]` when it has them (ours does; T5's has no bos and
none of these). Ours: `[PAD]` 0, `[UNK]` 1, `<s>` 2, `</s>` 3, `[CLS]` 4, `[SEP]` 5, `[MASK]` 6.
"""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Iterable, Sequence

import numpy as np

from jaxlm.data.tokenizer import CONFIG_FILES, Tokenizer
from jaxlm.errors import JaxlmError

NUM_SENTINELS = 100
MODEL_FILE = "spiece.model"
SPACE = "▁"


class SentencePieceTokenizer(Tokenizer):
    """`model_proto`: a serialised sentencepiece model; `path`: where it came from (for messages)."""

    def __init__(self, model_proto: bytes, path: str = "", extra_ids: int = NUM_SENTINELS):
        import sentencepiece as spm

        self.path = path or "(in memory)"
        self.folder = pathlib.Path(path).parent if path else None
        self.model_proto = model_proto
        try:
            self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        except (RuntimeError, TypeError):
            raise JaxlmError(f"{self.path}: not a sentencepiece model (it does not parse); "
                             "replace or delete the file") from None
        self.num_pieces = self.sp.get_piece_size()
        self.vocab_size = self.num_pieces + extra_ids
        self.sentinel_ids = tuple(self.vocab_size - 1 - i for i in range(extra_ids))
        ids = {"pad_id": self.sp.pad_id(), "unk_id": self.sp.unk_id(), "bos_id": self.sp.bos_id(),
               "eos_id": self.sp.eos_id()}
        for role, token in ids.items():
            setattr(self, role, token if token >= 0 else None)
        for role, piece in (("cls_id", "[CLS]"), ("sep_id", "[SEP]"), ("mask_id", "[MASK]")):
            token = self.sp.piece_to_id(piece)
            setattr(self, role, token if self.sp.id_to_piece(token) == piece else None)

    @classmethod
    def load(cls, path: str | pathlib.Path) -> SentencePieceTokenizer:
        return cls(pathlib.Path(path).read_bytes(), str(path))

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.sp.encode(text), dtype=np.int32)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.asarray(ids, dtype=np.int32) for ids in self.sp.encode(list(texts))]

    def id_to_piece(self, token: int) -> str:
        token = int(token)
        if token < self.num_pieces:
            return self.sp.id_to_piece(token)
        if token < self.vocab_size:
            return f"<extra_id_{self.vocab_size - 1 - token}>"
        return self.sp.id_to_piece(self.unk_id or 0)

    def decode(self, ids: Iterable[int]) -> str:
        """Runs of pieces decode with sentencepiece; a special token (a sentinel `<extra_id_i>`, the
        eos or unk piece) is written as its text, and the run after it keeps the space its first
        piece starts with, exactly as transformers' T5 tokenizer writes 'a</s> b<extra_id_0>c'.
        Padding and ids above the vocabulary (unused model rows) are dropped."""
        out, run = [], []

        def flush() -> None:
            if run:
                text = self.sp.decode(run)
                out.append(" " + text if out and self.sp.id_to_piece(run[0]).startswith(SPACE) else text)
                run.clear()

        for token in (int(t) for t in ids):
            if token == self.pad_id or token >= self.vocab_size:  # unused model rows decode to nothing
                continue
            if token < self.num_pieces and not (self.sp.is_control(token) or self.sp.is_unknown(token)):
                run.append(token)
            else:
                flush()
                out.append(self.id_to_piece(token))
        flush()
        return "".join(out)

    def word_starts(self) -> np.ndarray:
        starts = np.ones(self.vocab_size, dtype=bool)
        special = self.special_ids()
        for token in range(self.num_pieces):
            if token not in special and not self.sp.is_control(token) and not self.sp.is_unknown(token):
                starts[token] = self.sp.id_to_piece(token).startswith(SPACE)
        return starts

    def save(self, directory: str) -> None:
        """spiece.model, plus the transformers config files that came with it (a T5 folder's)."""
        (pathlib.Path(directory) / MODEL_FILE).write_bytes(self.model_proto)
        for name in CONFIG_FILES if self.folder else ():
            if (self.folder / name).is_file():
                shutil.copyfile(self.folder / name, pathlib.Path(directory) / name)
