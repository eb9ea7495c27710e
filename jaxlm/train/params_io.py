"""Model-only checkpoints, and the one way parameters are loaded into a model.

A model-only checkpoint is `DIR/config.yaml` plus `DIR/params/` (Orbax, the pure dict of
`nnx.Param`s): what `jaxlm convert --from-hf` writes.

    save_params("ckpt/gpt2", model, cfg)
    cfg, model = load_params("ckpt/gpt2")              # a fresh model of the saved config
    restore_params_into("ckpt/gpt2", model)             # every parameter must match (convert, generate)
    report = init_params_from("runs/bert", model)       # fine-tuning (`train.init_from`)

A source is a model-only checkpoint or a run's workdir (its newest good checkpoint, checksums
verified). Its weights are read to the host, every scanned layer stack is split into per-layer
arrays (`unstack_layers`), names are matched, the stacks rebuilt when the model is scanned
(`stack_layers`), and each array put on its parameter's dtype and sharding: a checkpoint saved
with `model.scan_layers=true` loads into an unrolled model and back.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp
import yaml
from flax import nnx

from jaxlm.config import CheckpointConfig, Config, config_from_dict
from jaxlm.errors import JaxlmError
from jaxlm.models import Model, build_model
from jaxlm.nn.stack import stack_layers, unstack_layers
from jaxlm.train.checkpoint import Checkpointer

CONFIG_FILE, PARAMS_DIR = "config.yaml", "params"


class InitReport(NamedTuple):
    """What `init_params_from` did: parameter names (dotted, per layer) copied, left fresh, unused."""

    loaded: list[str]
    fresh: list[str]
    unused: list[str]
    values: int  # numbers copied


def save_params(directory: str | pathlib.Path, model: nnx.Module, cfg: Config) -> pathlib.Path:
    """Write `cfg` as config.yaml and the model's parameters under params/ (replacing old ones)."""
    directory = pathlib.Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(directory / PARAMS_DIR, nnx.to_pure_dict(nnx.state(model, nnx.Param)), force=True)
    checkpointer.wait_until_finished()
    return directory


def read_config(directory: str | pathlib.Path) -> Config:
    """The `Config` saved beside a model-only checkpoint's params."""
    path = pathlib.Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise JaxlmError(f"{directory}: no {CONFIG_FILE}; expected a model-only checkpoint (jaxlm convert --from-hf)")
    return config_from_dict(yaml.safe_load(path.read_text()))


def load_params(directory: str | pathlib.Path) -> tuple[Config, Model]:
    """(config, model) of a model-only checkpoint: the model is built from config.yaml and filled."""
    cfg = read_config(directory)
    model = build_model(cfg.model)
    restore_params_into(directory, model)
    return cfg, model


def _with_int_layers(tree: Any) -> Any:
    """Orbax returns dict keys as strings; layer indices go back to ints."""
    if not isinstance(tree, Mapping):
        return tree
    return {int(k) if isinstance(k, str) and k.isdigit() else k: _with_int_layers(v) for k, v in tree.items()}


def _is_scanned(tree: Mapping) -> bool:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            if key == "layers" and not all(isinstance(k, int) for k in value):
                return True
            if _is_scanned(value):
                return True
    return False


def _flat(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """{dotted path: array} of a nested dict."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _nested(flat: Mapping[str, Any]) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        *parents, name = path.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[name] = value
    return _with_int_layers(tree)


def _unwrapped(tree: Any) -> Any:
    """A run checkpoint's params with each `{'value': array}` (how an `nnx.Param` is stored) as the array."""
    if not isinstance(tree, Mapping):
        return tree
    if tree.keys() == {"value"} and not isinstance(tree["value"], Mapping):
        return tree["value"]
    return {key: _unwrapped(value) for key, value in tree.items()}


def _saved_params(source: pathlib.Path) -> dict[str, np.ndarray]:
    """{dotted per-layer name: host array} of a model-only checkpoint or a run's workdir."""
    if (source / PARAMS_DIR).is_dir():
        checkpointer = ocp.StandardCheckpointer()
        saved = checkpointer.metadata(source / PARAMS_DIR).item_metadata.tree
        tree = checkpointer.restore(source / PARAMS_DIR, jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), saved, is_leaf=lambda m: hasattr(m, "shape")))
    elif (source / "checkpoints").is_dir():
        checkpoints = Checkpointer(source / "checkpoints", CheckpointConfig(), writable=False)
        try:
            restored = checkpoints.restore_params()
        finally:
            checkpoints.close()
        if restored is None:
            raise JaxlmError(f"{source}: the run has no readable checkpoint to take parameters from")
        tree = _unwrapped(restored[1])
    else:
        raise JaxlmError(f"{source}: neither a model-only checkpoint (config.yaml + {PARAMS_DIR}/) nor a run "
                         "workdir (checkpoints/)")
    return _flat(unstack_layers(_with_int_layers(tree)))


def _load(source: str | pathlib.Path, model: nnx.Module, *, strict: bool) -> InitReport:
    """Copy `source`'s parameters into `model` by name (see the module docstring)."""
    source = pathlib.Path(source).expanduser().absolute()
    saved = _saved_params(source)
    state = nnx.state(model, nnx.Param)
    current = nnx.to_pure_dict(state)
    scanned = _is_scanned(current)
    flat = _flat(unstack_layers(current) if scanned else current)
    loaded, fresh, values = [], [], 0
    for name, like in flat.items():
        value = saved.get(name)
        if value is None:
            fresh.append(name)
            continue
        if tuple(value.shape) != tuple(like.shape):
            raise JaxlmError(f"{source}: parameter '{name}' has shape {tuple(value.shape)} in the checkpoint, "
                             f"the model expects {tuple(like.shape)}")
        flat[name] = value
        loaded.append(name)
        values += int(np.prod(value.shape))
    unused = sorted(set(saved) - set(flat))
    if strict and fresh:
        raise JaxlmError(f"{source}: checkpoint lacks parameter '{fresh[0]}' that the model has")
    if strict and unused:
        raise JaxlmError(f"{source}: checkpoint parameter '{unused[0]}' is not in the model")
    tree = stack_layers(_nested(flat)) if scanned else _nested(flat)
    nnx.replace_by_pure_dict(state, jax.tree.map(_placed_like, tree, current))
    nnx.update(model, state)
    return InitReport(loaded, fresh, unused, values)


def _placed_like(value: Any, like: jax.Array) -> jax.Array:
    """`value` (host or device) with `like`'s dtype and sharding."""
    if isinstance(value, np.ndarray):
        return jax.device_put(np.asarray(value, like.dtype), like.sharding)
    return jax.device_put(value.astype(like.dtype), like.sharding)


def restore_params_into(source: str | pathlib.Path, model: nnx.Module) -> nnx.Module:
    """Overwrite `model`'s parameters with a checkpoint's, keeping each parameter's dtype and
    sharding. Every parameter must be present with its shape; a mismatch names the parameter."""
    _load(source, model, strict=True)
    return model


def init_params_from(source: str | pathlib.Path, model: nnx.Module) -> InitReport:
    """Fine-tuning start: every parameter of `model` that `source` has (same name, same shape) is
    copied; the others (a new head) keep their initialisation; the source's extra ones (an old
    head) are unused. A shape mismatch, or no transformer layer in common, is a JaxlmError."""
    report = _load(source, model, strict=False)
    if not any(".layers." in name for name in report.loaded):
        saved = next((name for name in report.unused if ".layers." in name), "none")
        wanted = next((name for name in report.fresh if ".layers." in name), "none")
        raise JaxlmError(f"train.init_from: no transformer layer of {source} matches this model (it has "
                         f"'{saved}', the model wants '{wanted}'); give a checkpoint of the same family")
    return report
