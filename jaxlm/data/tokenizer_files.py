"""Tokenizer files on disk: open any supported tokenizer, and keep one beside a run or a checkpoint.

    tokenizer = open_tokenizer("path/to/gpt2")        # tokenizer.json (+ tokenizer_config.json)
    tokenizer = open_tokenizer("spiece.model")         # a sentencepiece model: ours or T5's
    save_tokenizer(tokenizer, "runs/gpt2_tiny")        # → runs/gpt2_tiny/tokenizer/
    tokenizer = folder_tokenizer("runs/gpt2_tiny")     # that one again (None when there is none)

A folder is read as: `tokenizer.json` if present (Hugging Face), else `spiece.model` or a single
`*.model` (sentencepiece, with `extra_ids` from tokenizer_config.json when given, else 100).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

from jaxlm.data.tokenizer import CONFIG_FILES, Tokenizer
from jaxlm.data.tokenizer_hf import TOKENIZER_FILE, HFTokenizer
from jaxlm.data.tokenizer_sentencepiece import MODEL_FILE, NUM_SENTINELS, SentencePieceTokenizer
from jaxlm.errors import JaxlmError

TOKENIZER_DIR = "tokenizer"


def _extra_ids(folder: pathlib.Path) -> int:
    config = folder / CONFIG_FILES[0]
    if not config.is_file():
        return NUM_SENTINELS
    try:
        return int(json.loads(config.read_text()).get("extra_ids", NUM_SENTINELS))
    except (json.JSONDecodeError, TypeError, ValueError):
        raise JaxlmError(f"{config}: not a valid tokenizer config; replace the file") from None


def has_tokenizer(folder: str | pathlib.Path) -> bool:
    """Whether `folder` holds tokenizer files that `open_tokenizer` reads."""
    folder = pathlib.Path(folder)
    return (folder / TOKENIZER_FILE).is_file() or any(folder.glob("*.model"))


def open_tokenizer(path: str | pathlib.Path, key: str = "data.tokenizer_path") -> Tokenizer:
    """The tokenizer in a file (tokenizer.json or a sentencepiece .model) or a folder; `key` names
    the setting in errors."""
    path = pathlib.Path(path).expanduser()
    if path.is_file():
        if path.suffix == ".json":
            return HFTokenizer(path)
        return SentencePieceTokenizer(path.read_bytes(), str(path), _extra_ids(path.parent))
    if not path.is_dir():
        raise JaxlmError(f"{key}: '{path}' does not exist; give a tokenizer.json, a sentencepiece .model or a folder")
    if (path / TOKENIZER_FILE).is_file():
        return HFTokenizer(path / TOKENIZER_FILE)
    models = [path / MODEL_FILE] if (path / MODEL_FILE).is_file() else sorted(path.glob("*.model"))
    if len(models) != 1:
        found = "several .model files" if models else "no tokenizer.json or sentencepiece .model"
        raise JaxlmError(f"{key}: folder '{path}' holds {found}; point it at one tokenizer file")
    return SentencePieceTokenizer(models[0].read_bytes(), str(models[0]), _extra_ids(path))


def folder_tokenizer(folder: str | pathlib.Path) -> Tokenizer | None:
    """The tokenizer kept in `folder/tokenizer/` (a run or a model-only checkpoint), or None."""
    directory = pathlib.Path(folder) / TOKENIZER_DIR
    return open_tokenizer(directory, key=str(directory)) if has_tokenizer(directory) else None


def save_tokenizer(tokenizer: Tokenizer, folder: str | pathlib.Path) -> pathlib.Path:
    """Write `tokenizer`'s files to `folder/tokenizer/`, replacing a tokenizer saved there before
    (the files are written beside it first, then swapped in)."""
    target = pathlib.Path(folder) / TOKENIZER_DIR
    partial = target.with_name(f".{TOKENIZER_DIR}.{os.getpid()}.tmp")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        tokenizer.save(str(partial))
        if target.exists():
            shutil.rmtree(target)
        partial.rename(target)
    except OSError as error:
        raise JaxlmError(f"cannot write the tokenizer to {target} ({error.strerror}); "
                         "choose a writable folder") from None
    return target
