"""Model-only checkpoints: `DIR/config.yaml` plus `DIR/params/` (Orbax, the pure dict of `nnx.Param`s).

What `jaxlm convert --from-hf` writes and `train.init_from=DIR` starts from:

    save_params("ckpt/gpt2", model, cfg)
    cfg, model = load_params("ckpt/gpt2")          # a fresh model of the saved config
    restore_params_into("ckpt/gpt2", model)         # into an existing (possibly sharded) model

The weights restore into either layer layout: a checkpoint saved unrolled loads into a scanned
model (`model.scan_layers`) and back, with layers stacked or split on the way.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
import yaml
from flax import nnx

from jaxlm.config import Config, config_from_dict
from jaxlm.errors import JaxlmError
from jaxlm.models import Model, build_model
from jaxlm.nn.stack import stack_layers, unstack_layers

CONFIG_FILE, PARAMS_DIR = "config.yaml", "params"


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


def _flat_shapes(tree: Mapping, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """{dotted path: shape}, with scanned 'layers' subtrees expanded to one entry per layer."""
    shapes = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if key == "layers" and isinstance(value, Mapping) and not all(isinstance(k, int) for k in value):
            for sub, shape in _flat_shapes(value).items():
                shapes.update({f"{path}.{i}.{sub}": tuple(shape[1:]) for i in range(shape[0])})
        elif isinstance(value, Mapping):
            shapes.update(_flat_shapes(value, f"{path}."))
        else:
            shapes[path] = tuple(value.shape)
    return shapes


def _check_shapes(saved: Mapping, wanted: Mapping, directory: pathlib.Path) -> None:
    have, want = _flat_shapes(saved), _flat_shapes(wanted)
    for path in sorted(want.keys() | have.keys()):
        if path not in have:
            raise JaxlmError(f"{directory}: checkpoint lacks parameter '{path}' that the model has")
        if path not in want:
            raise JaxlmError(f"{directory}: checkpoint parameter '{path}' is not in the model")
        if have[path] != want[path]:
            raise JaxlmError(
                f"{directory}: parameter '{path}' has shape {have[path]} in the checkpoint, "
                f"the model expects {want[path]}"
            )


def restore_params_into(directory: str | pathlib.Path, model: nnx.Module) -> nnx.Module:
    """Overwrite `model`'s parameters with a model-only checkpoint's, keeping each parameter's
    dtype and sharding. Shapes are checked first; a mismatch names the parameter."""
    directory = pathlib.Path(directory).absolute()
    params_dir = directory / PARAMS_DIR
    if not params_dir.is_dir():
        raise JaxlmError(f"{directory}: no {PARAMS_DIR}/ folder; expected a model-only checkpoint (save_params)")
    checkpointer = ocp.StandardCheckpointer()
    saved = _with_int_layers(checkpointer.metadata(params_dir).item_metadata.tree)
    state = nnx.state(model, nnx.Param)
    current = nnx.to_pure_dict(state)
    _check_shapes(saved, current, directory)
    if _is_scanned(saved) == _is_scanned(current):
        target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), current)
        restored = _with_int_layers(checkpointer.restore(params_dir, target))
    else:
        loaded = unstack_layers(_with_int_layers(checkpointer.restore(params_dir)))
        loaded = stack_layers(loaded) if _is_scanned(current) else loaded
        restored = jax.tree.map(
            lambda value, like: jax.device_put(jnp.asarray(value, like.dtype), like.sharding), loaded, current
        )
    nnx.replace_by_pure_dict(state, restored)
    nnx.update(model, state)
    return model
