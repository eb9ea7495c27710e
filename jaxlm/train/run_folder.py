"""A run folder holds everything needed to use the run anywhere, without the cache in the home
directory:

    runs/gpt2_tiny/
        config.yaml          the resolved config, written when training starts
        tokenizer/           the tokenizer's files, copied in when training first starts
        checkpoints/<step>/  Orbax checkpoints (each with its config too)
        metrics.jsonl

A model-only checkpoint (`jaxlm convert --from-hf`, `train.init_from`) keeps its tokenizer the same
way, in `tokenizer/` beside its config.yaml and params/. A run trains with the tokenizer already in
its folder (a resumed run), else `train.init_from`'s (fine-tuning keeps the pretrained token ids),
else the config's (`data.tokenizer_path`, or ours trained on the data).
"""

from __future__ import annotations

import pathlib

import jax
import yaml

from jaxlm.config import Config
from jaxlm.data import Tokenizer, folder_tokenizer, load_tokenizer, save_tokenizer
from jaxlm.data.tokenizer_files import TOKENIZER_DIR, has_tokenizer
from jaxlm.errors import JaxlmError
from jaxlm.train.params_io import CONFIG_FILE, PARAMS_DIR, read_config


def write_run_files(cfg: Config, workdir: pathlib.Path, tokenizer: Tokenizer) -> None:
    """`workdir/config.yaml` (the resolved config of this invocation) and, unless the run keeps one
    already, `workdir/tokenizer/`. Process 0 writes them."""
    if jax.process_index() != 0:
        return
    try:
        (workdir / CONFIG_FILE).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    except OSError as error:
        raise JaxlmError(f"workdir: cannot write {workdir / CONFIG_FILE} ({error.strerror}); "
                         "choose a writable workdir") from None
    if not has_tokenizer(workdir / TOKENIZER_DIR):
        save_tokenizer(tokenizer, workdir)


def _init_from_tokenizer(cfg: Config) -> Tokenizer | None:
    """`train.init_from`'s tokenizer, checked against this config, or None when it keeps none."""
    origin = pathlib.Path(cfg.train.init_from).expanduser()
    tokenizer = folder_tokenizer(origin)
    if tokenizer is None:
        return None
    if cfg.data.tokenizer_path:
        raise JaxlmError(f"data.tokenizer_path: train.init_from={origin} brings its own tokenizer, whose ids its "
                         "weights were trained on; remove data.tokenizer_path")
    rows = read_config(origin).model.vocab_size
    if rows != cfg.model.vocab_size:
        raise JaxlmError(f"model.vocab_size: {cfg.model.vocab_size}, but train.init_from={origin} has {rows} rows "
                         f"for its tokenizer's {tokenizer.vocab_size} ids; set model.vocab_size={rows}")
    return tokenizer


def start_tokenizer(cfg: Config, workdir: pathlib.Path) -> Tokenizer:
    """The tokenizer a run trains with (see the module docstring); nothing is written yet."""
    tokenizer = folder_tokenizer(workdir)
    if tokenizer is None:
        tokenizer = (_init_from_tokenizer(cfg) if cfg.train.init_from else None) or load_tokenizer(cfg)
    tokenizer.check_fits(cfg.model)
    return tokenizer


def run_tokenizer(cfg: Config, folder: pathlib.Path) -> Tokenizer:
    """The tokenizer of a run or model-only checkpoint `folder`: the one kept in it; else
    `data.tokenizer_path`; else, for a run made before runs kept their tokenizer, the config's."""
    tokenizer = folder_tokenizer(folder)
    if tokenizer is None:
        if (folder / PARAMS_DIR).is_dir() and not cfg.data.tokenizer_path:
            raise JaxlmError(f"{folder} keeps no tokenizer/; give one with data.tokenizer_path=PATH "
                             "(a tokenizer.json, a sentencepiece .model, or a folder holding one)")
        return load_tokenizer(cfg)
    tokenizer.check_fits(cfg.model)
    return tokenizer
