"""Typed configuration: YAML presets shipped in `jaxlm/config/presets/`, strict validation, `key=value` overrides.

    cfg = load_config("bert_tiny", ["model.d_model=64", "train.steps=10"])

A config may be named by a YAML path or by a preset's bare name (`bert_tiny`), looked up among the
presets installed with the package. Every problem is a one-line `ConfigError`.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import pathlib
from collections.abc import Sequence
from typing import Any

import yaml

from jaxlm.config.data import DataConfig
from jaxlm.config.model import ModelConfig
from jaxlm.config.parallel import ParallelConfig
from jaxlm.config.schema import ConfigError, build_section, require, to_dict
from jaxlm.config.train import CheckpointConfig, TrainConfig

PRESET_DIR = pathlib.Path(__file__).resolve().parent / "presets"
# The model family each objective trains, and presets of each family (for error messages).
OBJECTIVE_FAMILY = {
    "mlm_nsp": "encoder", "classification": "encoder", "causal_lm": "decoder",
    "span_corruption": "encoder_decoder", "seq2seq": "encoder_decoder",
}
FAMILY_PRESETS = {"encoder": ("bert_tiny", "bert_base"), "decoder": ("gpt2_tiny", "gpt2_small"),
                  "encoder_decoder": ("t5_tiny", "t5_small")}

__all__ = [
    "CheckpointConfig", "Config", "ConfigError", "DataConfig", "ModelConfig", "ParallelConfig",
    "TrainConfig", "config_from_dict", "load_config", "preset_names", "preset_summary", "require", "to_dict",
]


@dataclasses.dataclass(frozen=True)
class Config:
    """A whole run: `name` and `workdir` plus one section per layer of the data flow."""

    model: ModelConfig
    name: str = "run"
    workdir: str = ""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    parallel: ParallelConfig = dataclasses.field(default_factory=ParallelConfig)

    def to_dict(self) -> dict:
        return to_dict(self)

    def validate(self, prefix: str = "") -> None:
        """Constraints between sections, caught before anything is built."""
        family, objective = self.model.family, self.data.objective
        needed = OBJECTIVE_FAMILY[objective]
        fitting = " or ".join(name for name, f in OBJECTIVE_FAMILY.items() if f == family)
        require(
            family == needed, "data.objective",
            f"{objective} needs model.family={needed}, not {family}; use data.objective={fitting} with this "
            f"model, or a {needed} preset ({', '.join(FAMILY_PRESETS[needed])})",
        )


def preset_names() -> list[str]:
    """The bare names of the presets shipped with the package."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_summary(name: str) -> str:
    """The comment heading a preset's YAML file, as one line."""
    lines = (PRESET_DIR / f"{name}.yaml").read_text().splitlines()
    heading = itertools.takewhile(lambda line: line.startswith("#"), lines)
    return " ".join(line.lstrip("# ").strip() for line in heading)


def _resolve(path_or_name: str) -> pathlib.Path:
    path = pathlib.Path(path_or_name)
    if path.is_file():
        return path
    preset = PRESET_DIR / f"{path_or_name}.yaml"
    if path.suffix == "" and preset.is_file():
        return preset
    names = ", ".join(preset_names())
    raise ConfigError(f"config '{path_or_name}' not found; give a YAML path or one of: {names}")


def _parse_override(text: str) -> tuple[list[str], Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{text}' is not key=value (e.g. model.d_model=128)")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """Return a copy of nested dict `data` with dotted `key=value` overrides applied."""
    data = copy.deepcopy(data)
    for text in overrides:
        keys, value = _parse_override(text)
        node = data
        for k in keys[:-1]:
            child = node.setdefault(k, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{text}': '{k}' is not a section")
            node = child
        node[keys[-1]] = value
    return data


def config_from_dict(data: dict, overrides: Sequence[str] = ()) -> Config:
    """Validate a nested dict (as loaded from YAML) into a `Config`."""
    return build_section(Config, apply_overrides(data or {}, overrides), "")


def load_config(path_or_name: str, overrides: Sequence[str] = ()) -> Config:
    """Load a YAML preset by path or bare name, apply overrides and validate."""
    path = _resolve(path_or_name)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read as text ({type(error).__name__}); give a YAML file") from None
    require(data is not None, str(path), "is empty; start from a preset: jaxlm config gpt2_tiny > my_run.yaml")
    require(isinstance(data, dict), str(path), "must hold a mapping of sections")
    data.setdefault("name", path.stem)
    return config_from_dict(data, overrides)
