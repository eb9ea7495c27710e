"""A Hugging Face `tokenizer.json` through the `tokenizers` library (GPT-2's byte-level BPE, BERT's
WordPiece, T5's unigram, …), with its roles from the `tokenizer_config.json` beside it.

Roles: `pad_token`, `unk_token`, `eos_token`, `cls_token`, `sep_token`, `mask_token` of
tokenizer_config.json (or special_tokens_map.json); a role neither file names is recognised by
the name of an added special token ([PAD], <pad>, [CLS], …, <|endoftext|>). `bos_id` is the bos token only
when the tokenizer's own post-processor puts it in front of a text (as transformers does when it
encodes), so GPT-2 prompts get no `<|endoftext|>` prepended, as with transformers' `generate`.
Sentinels are the added tokens `<extra_id_i>`. `decode` is transformers' `decode` with
`skip_special_tokens=False` (padding dropped), including its `clean_up_tokenization_spaces`.
"""

from __future__ import annotations

import json
import pathlib
import shutil
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from jaxlm.data.tokenizer import CONFIG_FILES, Tokenizer
from jaxlm.errors import JaxlmError

TOKENIZER_FILE = "tokenizer.json"
ROLE_KEYS = {"pad_id": "pad_token", "unk_id": "unk_token", "bos_id": "bos_token", "eos_id": "eos_token",
             "cls_id": "cls_token", "sep_id": "sep_token", "mask_id": "mask_token"}
KNOWN_NAMES = {"pad_id": ("[PAD]", "<pad>"), "unk_id": ("[UNK]", "<unk>"), "bos_id": ("<s>", "<|endoftext|>"),
               "eos_id": ("</s>", "<|endoftext|>"), "cls_id": ("[CLS]",), "sep_id": ("[SEP]",),
               "mask_id": ("[MASK]", "<mask>")}
# transformers' clean_up_tokenization (applied when tokenizer_config.json asks, never to BPE)
CLEAN_UP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def _token_name(value: Any) -> str | None:
    return value.get("content") if isinstance(value, dict) else value


def _read_config(folder: pathlib.Path) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name in reversed(CONFIG_FILES):  # tokenizer_config.json wins
        path = folder / name
        if path.is_file():
            try:
                config.update(json.loads(path.read_text()))
            except json.JSONDecodeError as error:
                raise JaxlmError(f"{path}: not valid JSON (line {error.lineno}); replace the file") from None
    return config


class HFTokenizer(Tokenizer):
    """`tokenizer.json` at `path` (a file, or the folder holding it) plus the config files beside it."""

    def __init__(self, path: str | pathlib.Path):
        file = pathlib.Path(path)
        file = file / TOKENIZER_FILE if file.is_dir() else file
        try:
            from tokenizers import Tokenizer as RustTokenizer
        except ImportError:  # a dependency of jaxlm, but an environment can still lack it
            raise JaxlmError(f"{file}: reading a Hugging Face tokenizer.json needs the tokenizers package, "
                             "not installed; pip install tokenizers") from None
        self.path, self.folder = str(file), file.parent
        try:
            self.backend = RustTokenizer.from_file(str(file))
        except Exception as error:  # the Rust side raises plain Exception for any parse error
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise JaxlmError(f"{file}: not a Hugging Face tokenizer.json ({reason}); replace or delete it") from None
        self.config = _read_config(self.folder)
        self.vocab_size = self.backend.get_vocab_size(with_added_tokens=True)
        added = {token.content for token in self.backend.get_added_tokens_decoder().values() if token.special}
        for role, key in ROLE_KEYS.items():
            guess = next((name for name in KNOWN_NAMES[role] if name in added), None)
            name = _token_name(self.config[key]) if key in self.config else guess
            setattr(self, role, self.backend.token_to_id(name) if name else None)
        if self.bos_id is not None and self.backend.encode("a").ids[:1] != [self.bos_id]:
            self.bos_id = None
        sentinels = []
        while (token := self.backend.token_to_id(f"<extra_id_{len(sentinels)}>")) is not None:
            sentinels.append(token)
        self.sentinel_ids = tuple(sentinels)
        model = json.loads(self.backend.to_str())["model"]
        self.continuing_prefix = model.get("continuing_subword_prefix") if model["type"] == "WordPiece" else None
        self.clean_up = bool(self.config.get("clean_up_tokenization_spaces")) and model["type"] != "BPE"

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.backend.encode(text, add_special_tokens=False).ids, dtype=np.int32)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        encodings = self.backend.encode_batch(list(texts), add_special_tokens=False)
        return [np.asarray(encoding.ids, dtype=np.int32) for encoding in encodings]

    def decode(self, ids: Iterable[int]) -> str:
        text = self.backend.decode([int(t) for t in ids if int(t) != self.pad_id], skip_special_tokens=False)
        if self.clean_up:
            for before, after in CLEAN_UP:
                text = text.replace(before, after)
        return text

    def id_to_piece(self, token: int) -> str:
        piece = self.backend.id_to_token(int(token))
        return piece if piece is not None else (self.backend.id_to_token(self.unk_id or 0) or "")

    def word_starts(self) -> np.ndarray:
        """WordPiece: pieces without the '##' prefix; byte-level / metaspace models: pieces that start
        with their space marker ('Ġ' / '▁')."""
        special = self.special_ids()
        starts = np.ones(self.vocab_size, dtype=bool)
        for token in range(self.vocab_size):
            piece = self.backend.id_to_token(token)
            if token in special or piece is None:
                continue
            if self.continuing_prefix is not None:
                starts[token] = not piece.startswith(self.continuing_prefix)
            else:
                starts[token] = piece.startswith(("Ġ", "▁"))
        return starts

    def save(self, directory: str) -> None:
        target = pathlib.Path(directory)
        shutil.copyfile(self.path, target / TOKENIZER_FILE)
        for name in CONFIG_FILES:
            if (self.folder / name).is_file():
                shutil.copyfile(self.folder / name, target / name)
