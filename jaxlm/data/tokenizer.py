"""The tokenizer interface shared by the data pipeline, the objectives' builders, training,
`generate`, `fill-mask` and `eval`.

Implementations: `SentencePieceTokenizer` (ours, trained here, and T5's `spiece.model`;
tokenizer_sentencepiece.py) and `HFTokenizer` (a Hugging Face `tokenizer.json`: GPT-2's
byte-level BPE, BERT's WordPiece, …; tokenizer_hf.py). `open_tokenizer` / `save_tokenizer`
(tokenizer_files.py) read and write either.

Special ids are read from the tokenizer itself, never assumed; a role the tokenizer lacks is None:

| role | ours | GPT-2 | BERT | T5 |
|---|---|---|---|---|
| pad_id | 0 `[PAD]` | None | 0 `[PAD]` | 0 `<pad>` |
| bos_id (begins documents and prompts) | 2 `<s>` | None | None | None |
| eos_id (ends documents) | 3 `</s>` | 50256 (endoftext) | None | 1 `</s>` |
| cls_id, sep_id, mask_id | 4, 5, 6 | None | `[CLS]` `[SEP]` `[MASK]` | None |
| sentinel(i) `<extra_id_i>` | vocab_size − 1 − i | none | none | vocab_size − 1 − i |

`vocab_size` counts the ids the tokenizer can produce (pieces and sentinels). It may be smaller
than `model.vocab_size` (the model's extra rows stay unused, as with padded vocabularies), never
larger (`check_fits`). The decoder start id of encoder–decoders is `model.pad_id` (the model
config's, as in T5), and the tokenizer's pad id, when it has one, must equal it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from jaxlm.config import ModelConfig
from jaxlm.errors import JaxlmError

CONFIG_FILES = ("tokenizer_config.json", "special_tokens_map.json")  # transformers' files beside a tokenizer
ROLES = {"pad_id": "pad", "unk_id": "unknown", "bos_id": "begin-of-sequence", "eos_id": "end-of-sequence",
         "cls_id": "[CLS]", "sep_id": "[SEP]", "mask_id": "[MASK]"}


class Tokenizer:
    """Text ↔ int32 ids. Subclasses set `path`, `vocab_size`, the role ids (int or None) and
    `sentinel_ids` (id of `<extra_id_i>` at index i), and implement encode / decode / id_to_piece /
    word_starts / save."""

    path: str = ""
    vocab_size: int = 0
    pad_id: int | None = None
    unk_id: int | None = None
    bos_id: int | None = None
    eos_id: int | None = None
    cls_id: int | None = None
    sep_id: int | None = None
    mask_id: int | None = None
    sentinel_ids: tuple[int, ...] = ()

    def encode(self, text: str) -> np.ndarray:
        """[n] int32 ids of `text`, without any special token added around it."""
        raise NotImplementedError

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode(text) for text in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`: padding dropped, other special tokens written as their text (e.g. `<extra_id_0>`)."""
        raise NotImplementedError

    def id_to_piece(self, token: int) -> str:
        """The vocabulary entry of `token` as stored (e.g. '▁the', 'Ġthe', '##ing')."""
        raise NotImplementedError

    def word_starts(self) -> np.ndarray:
        """[vocab_size] bool: True where a piece begins a word (and on special tokens); for whole-word masking."""
        raise NotImplementedError

    def save(self, directory: str) -> None:
        """Write the tokenizer's file(s) into `directory` (which exists), so `open_tokenizer` reads them back."""
        raise NotImplementedError

    def special_ids(self) -> set[int]:
        """Every id that is not an ordinary piece: the role ids and the sentinels."""
        roles = {getattr(self, name) for name in ROLES}
        return {token for token in roles if token is not None} | set(self.sentinel_ids)

    def require(self, role: str, purpose: str) -> int:
        """The id of `role` (e.g. 'mask_id'), or a one-line error saying `purpose` needs it."""
        token = getattr(self, role)
        if token is None:
            raise JaxlmError(f"{purpose} needs the tokenizer's {ROLES[role]} token, but {self.path or 'it'} has none; "
                             "use a tokenizer that has one (leave data.tokenizer_path empty to train ours)")
        return token

    def sentinel(self, index: int) -> int:
        """Id of `<extra_id_{index}>` (T5's sentinels count down from the top of the vocabulary)."""
        if not 0 <= index < len(self.sentinel_ids):
            raise JaxlmError(f"sentinel <extra_id_{index}> is not in the tokenizer {self.path} "
                             f"(it has {len(self.sentinel_ids)}); span corruption needs T5-style sentinels")
        return self.sentinel_ids[index]

    def learned_range(self) -> tuple[int, int]:
        """[low, high): the longest run of ids holding no special token (BERT's random replacements)."""
        special = sorted(self.special_ids() | {-1, self.vocab_size})
        gaps = [(special[i] + 1, special[i + 1]) for i in range(len(special) - 1)]
        return max(gaps, key=lambda gap: gap[1] - gap[0])

    def check_fits(self, model: ModelConfig) -> None:
        """One-line errors when the model cannot use this tokenizer: more ids than embedding rows,
        or a pad id other than `model.pad_id`."""
        if self.vocab_size > model.vocab_size:
            raise JaxlmError(
                f"model.vocab_size: {model.vocab_size} rows cannot hold the {self.vocab_size} ids of the tokenizer "
                f"{self.path}; set model.vocab_size={self.vocab_size} (or more)"
            )
        if self.pad_id is not None and self.pad_id != model.pad_id:
            raise JaxlmError(f"model.pad_id: {model.pad_id} is not the tokenizer's pad id {self.pad_id}; "
                             f"set model.pad_id={self.pad_id}")
