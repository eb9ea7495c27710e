"""Hugging Face model folders: config.json plus model.safetensors (or pytorch_model.bin, or their
sharded `.index.json` forms), read into jaxlm and written back. Nothing is downloaded.

    from jaxlm.interop import load_hf_folder, save_hf_folder
    cfg, model = load_hf_folder("path/to/gpt2")       # a folder you downloaded
    save_hf_folder(model, "out/gpt2")                  # transformers' from_pretrained("out/gpt2") loads it
"""

from __future__ import annotations

import json
import pathlib
import tempfile
from typing import Any

import numpy as np

from jaxlm.config import ModelConfig
from jaxlm.errors import JaxlmError
from jaxlm.interop.convert import from_state_dict, to_hf_config, to_state_dict, torch_to_numpy
from jaxlm.interop.hf_config import hf_architecture
from jaxlm.models import Model

SAFETENSORS, PYTORCH = "model.safetensors", "pytorch_model.bin"


def _shards(folder: pathlib.Path, single: str) -> list[pathlib.Path]:
    """[single file] or the shards its `.index.json` lists; [] when neither exists."""
    if (folder / single).is_file():
        return [folder / single]
    index = folder / f"{single}.index.json"
    if not index.is_file():
        return []
    weight_map = json.loads(index.read_text()).get("weight_map", {})
    return [folder / name for name in sorted(set(weight_map.values()))]


def _load_safetensors(path: pathlib.Path) -> dict[str, np.ndarray]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as file:
        return torch_to_numpy({key: file.get_tensor(key) for key in file.keys()})  # noqa: SIM118


def _load_pytorch(path: pathlib.Path) -> dict[str, np.ndarray]:
    import torch

    return torch_to_numpy(torch.load(path, map_location="cpu", weights_only=True))


def read_hf_folder(directory: str | pathlib.Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(config.json as a dict, state dict as numpy arrays) of a Hugging Face model folder."""
    folder = pathlib.Path(directory)
    if not folder.is_dir():
        raise JaxlmError(f"{folder}: not a folder; give a Hugging Face model folder")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise JaxlmError(f"{folder}: no config.json; a Hugging Face model folder holds config.json and weights")
    try:
        hf_config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise JaxlmError(f"{config_path}: not valid JSON (line {error.lineno})") from None
    state: dict[str, np.ndarray] = {}
    if shards := _shards(folder, SAFETENSORS):
        load = _load_safetensors
    elif shards := _shards(folder, PYTORCH):
        load = _load_pytorch
    else:
        raise JaxlmError(f"{folder}: no {SAFETENSORS} or {PYTORCH} next to config.json")
    for shard in shards:
        state.update(_read_weights(load, shard))
    return hf_config, state


def _read_weights(load: Any, shard: pathlib.Path) -> dict[str, np.ndarray]:
    """`load(shard)`, with a truncated or corrupt file (or a missing shard) as one line."""
    if not shard.is_file():
        raise JaxlmError(f"{shard}: missing, though its index lists it; download every shard")
    try:
        return load(shard)
    except ImportError:
        raise
    except Exception as error:  # safetensors, torch and pickle each raise their own types for a damaged file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise JaxlmError(f"{shard}: cannot be read ({reason}); the file is damaged or incomplete, "
                         "download or save it again") from None


def load_hf_folder(
    directory: str | pathlib.Path, *, architecture: str | None = None, **overrides: Any
) -> tuple[ModelConfig, Model]:
    """A jaxlm config and model from a Hugging Face folder; `architecture` overrides config.json's
    (e.g. 'BertForPreTraining' for a checkpoint labelled BertForMaskedLM that holds NSP weights)."""
    hf_config, state = read_hf_folder(directory)
    return from_state_dict(hf_config, state, architecture=architecture, **overrides)


def save_hf_folder(model: Model, directory: str | pathlib.Path) -> pathlib.Path:
    """Write config.json and model.safetensors (tied copies left out, as save_pretrained does)."""
    from safetensors.numpy import save_file

    folder = pathlib.Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    config = to_hf_config(model.config)
    state = to_state_dict(model, include_tied=False)
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file(state, str(folder / SAFETENSORS), metadata={"format": "pt"})
    return folder


def to_hf(model: Model) -> Any:
    """The equivalent transformers model, built through a temporary folder and `from_pretrained`
    (which unties T5 v1.1's lm_head correctly, unlike loading into a fresh model)."""
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        save_hf_folder(model, tmp)
        return getattr(transformers, hf_architecture(model.config)).from_pretrained(tmp)
