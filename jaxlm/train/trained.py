"""Find trained weights and their tokenizer, for `generate`, `fill-mask`, `eval` and `convert --to-hf`.

    cfg, folder = find_run("runs/gpt2_tiny", overrides)       # or a config name, or a checkpoint folder
    cfg, model, tokenizer = load_trained("runs/gpt2_tiny", overrides)
    cfg, model, folder = load_trained_model("ckpt/gpt2", overrides)   # without the tokenizer

A target is a model-only checkpoint folder (config.yaml + params/), a run folder (holding
checkpoints/; its newest good checkpoint), or a config (preset name or YAML) whose run folder is
`--workdir`, the config's `workdir`, or runs/<name>.
"""

from __future__ import annotations

import pathlib

from jaxlm.config import CheckpointConfig, Config, config_from_dict, load_config
from jaxlm.data import Tokenizer
from jaxlm.errors import JaxlmError
from jaxlm.models import Model
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.loop import workdir_for
from jaxlm.train.params_io import CONFIG_FILE, PARAMS_DIR, load_params, read_config
from jaxlm.train.run_folder import run_tokenizer
from jaxlm.train.session import build_session

CHECKPOINTS = "checkpoints"


def is_model_only(folder: pathlib.Path) -> bool:
    return (folder / CONFIG_FILE).is_file() and (folder / PARAMS_DIR).is_dir()


def find_run(target: str, overrides: list[str], workdir: str = "") -> tuple[Config, pathlib.Path]:
    """(config, folder) of a target: a model-only checkpoint's config.yaml, or the config saved
    with a run's newest readable checkpoint (`overrides` applied to either)."""
    path = pathlib.Path(target).expanduser()
    if is_model_only(path):
        cfg = read_config(path)
        return (config_from_dict(cfg.to_dict(), overrides) if overrides else cfg), path
    if path.is_dir():
        folder, checkpoint_cfg, extra = path, CheckpointConfig(), [f"workdir={path}"]
    else:
        extra = [f"workdir={workdir}"] if workdir else []
        cfg = load_config(target, [*overrides, *extra])
        folder, checkpoint_cfg = workdir_for(cfg), cfg.checkpoint
    missing = JaxlmError(f"no checkpoint in {folder / CHECKPOINTS}; train first (jaxlm train {target}) "
                         "or give a model-only checkpoint folder")
    if not (folder / CHECKPOINTS).is_dir():
        raise missing
    checkpoints = Checkpointer(folder / CHECKPOINTS, checkpoint_cfg)
    try:
        saved = checkpoints.read_config()
    finally:
        checkpoints.close()
    if saved is None:
        raise missing
    return config_from_dict(saved, [*overrides, *extra]), folder


def load_trained_model(target: str, overrides: list[str], workdir: str = "") -> tuple[Config, Model, pathlib.Path]:
    """(config, model, folder) of a target (see the module docstring)."""
    cfg, folder = find_run(target, overrides, workdir)
    if is_model_only(folder):
        return cfg, load_params(folder)[1], folder
    checkpoints = Checkpointer(folder / CHECKPOINTS, cfg.checkpoint)
    try:
        session = build_session(cfg)
        _, session.state, _, _ = checkpoints.restore(session.abstract_state())
    finally:
        checkpoints.close()
    return cfg, session.model(), folder


def load_trained(target: str, overrides: list[str], workdir: str = "") -> tuple[Config, Model, Tokenizer]:
    """(config, model, tokenizer) of a target; the tokenizer is the one kept in its folder
    (`run_folder.run_tokenizer`)."""
    cfg, model, folder = load_trained_model(target, overrides, workdir)
    return cfg, model, run_tokenizer(cfg, folder)
