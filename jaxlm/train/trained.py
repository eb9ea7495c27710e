"""Trained weights and their tokenizer, read-only: the one way `eval`, `generate`, `fill-mask` and
`convert --to-hf` load a model.

    session, step, folder = load_trained_session("runs/gpt2_tiny", overrides)  # eval
    cfg, model, tokenizer = load_trained("runs/gpt2_tiny", overrides)          # generate, fill-mask
    cfg, model, folder = load_trained_model("ckpt/gpt2", overrides)            # without the tokenizer
    session, step = load_session("runs/gpt2_tiny")                             # a run folder only

A target is a model-only checkpoint folder (config.yaml + params/, read by `params_io`), a run
folder (holding checkpoints/; its newest good checkpoint), or a config (preset name or YAML) whose
run folder is `--workdir`, the config's `workdir`, or runs/<name>. A run is read by
`Checkpointer(writable=False).restore`: the saved config plus `overrides` is checked against the
checkpoint before any array is read, a corrupt step is fallen back from, and nothing in the folder
is created, renamed or deleted. The tokenizer is the one kept in the folder (`run_folder.run_tokenizer`).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from jaxlm.config import CheckpointConfig, Config, config_from_dict, load_config
from jaxlm.data import Tokenizer
from jaxlm.errors import JaxlmError
from jaxlm.models import Model, build_model
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.loop import workdir_for
from jaxlm.train.params_io import CONFIG_FILE, PARAMS_DIR, read_config, restore_params_into
from jaxlm.train.run_folder import run_tokenizer
from jaxlm.train.session import Session, build_session

CHECKPOINTS = "checkpoints"


def is_model_only(folder: pathlib.Path) -> bool:
    return (folder / CONFIG_FILE).is_file() and (folder / PARAMS_DIR).is_dir()


def trained_folder(target: str, overrides: Sequence[str], workdir: str = "") -> pathlib.Path:
    """The folder a target names: the target itself when it is a folder, else the config's run folder."""
    path = pathlib.Path(target).expanduser()
    if path.is_dir():
        return path
    return workdir_for(load_config(target, [*overrides, *([f"workdir={workdir}"] if workdir else [])]))


def load_session(folder: str | pathlib.Path, overrides: Sequence[str] = ()) -> tuple[Session, int]:
    """(session, step) of the newest good checkpoint of the run in `folder`, built from the config
    saved with it plus `overrides` (and `workdir=folder`, so a moved run still names its place). A
    model override that does not match the checkpoint, or a folder without a run, is a one-line
    JaxlmError."""
    folder = pathlib.Path(folder)
    directory = folder / CHECKPOINTS
    if not directory.is_dir():
        raise JaxlmError(f"no run in {folder}: it has no {CHECKPOINTS}/ folder; train one there first "
                         f"(jaxlm train CONFIG --workdir {folder}), or give a model-only checkpoint folder")
    checkpoints = Checkpointer(directory, CheckpointConfig(), writable=False)
    try:
        saved = checkpoints.read_config()
        if saved is None:
            raise JaxlmError(f"no readable checkpoint in {directory}; train one there first (jaxlm train)")
        session = build_session(config_from_dict(saved, [*overrides, f"workdir={folder}"]))
        restored = checkpoints.restore(session.abstract_state(), session.cfg)
    finally:
        checkpoints.close()
    if restored is None:
        raise JaxlmError(f"every checkpoint in {directory} is corrupt (see the warnings); resume training to write one")
    session.state = restored.state
    return session, restored.step


def _model_only_config(folder: pathlib.Path, overrides: Sequence[str]) -> Config:
    cfg = read_config(folder)
    return config_from_dict(cfg.to_dict(), list(overrides)) if overrides else cfg


def load_trained_session(target: str, overrides: Sequence[str], workdir: str = "") -> tuple[Session, int | None,
                                                                                           pathlib.Path]:
    """(session, step, folder) of a target (see the module docstring); step is None for a
    model-only checkpoint, whose optimizer state is fresh."""
    folder = trained_folder(target, overrides, workdir)
    if is_model_only(folder):
        cfg = _model_only_config(folder, overrides)
        return build_session(cfg, load_params=lambda model: restore_params_into(folder, model)), None, folder
    session, step = load_session(folder, overrides)
    return session, step, folder


def load_trained_model(target: str, overrides: Sequence[str], workdir: str = "") -> tuple[Config, Model,
                                                                                         pathlib.Path]:
    """(config, model, folder) of a target (see the module docstring)."""
    folder = trained_folder(target, overrides, workdir)
    if is_model_only(folder):
        cfg = _model_only_config(folder, overrides)
        return cfg, restore_params_into(folder, build_model(cfg.model)), folder
    session, _ = load_session(folder, overrides)
    return session.cfg, session.model(), folder


def load_trained(target: str, overrides: Sequence[str], workdir: str = "") -> tuple[Config, Model, Tokenizer]:
    """(config, model, tokenizer) of a target; the tokenizer is the one kept in its folder."""
    cfg, model, folder = load_trained_model(target, overrides, workdir)
    return cfg, model, run_tokenizer(cfg, folder)
