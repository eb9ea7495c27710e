"""Start training from a model-only checkpoint (`train.init_from`): fine-tuning.

The checkpoint's model may have different heads than the one being trained (a pretrained BERT
with masked-LM and NSP heads, fine-tuned as a classifier): every parameter present in both with
the same path and shape is copied; the new model's other parameters (the new head) keep their
fresh initialisation, and the checkpoint's extra ones (the old heads) are dropped. A parameter
present in both with different shapes is an error, as is a checkpoint sharing nothing.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.errors import JaxlmError


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def load_matching_params(directory: str | pathlib.Path, model: nnx.Module) -> tuple[list[str], list[str]]:
    """Copy the checkpoint's parameters into `model` (in place, keeping dtypes and shardings).

    Returns (fresh, dropped): the model's parameters left as initialised, and the checkpoint's
    parameters the model has no place for.
    """
    from jaxlm.train.params_io import load_params

    _, saved_model = load_params(directory)
    saved = {_dotted(path): var for path, var in nnx.to_flat_state(nnx.state(saved_model, nnx.Param))}
    state = nnx.state(model, nnx.Param)
    fresh, used = [], set()
    for path, var in nnx.to_flat_state(state):
        name = _dotted(path)
        source = saved.get(name)
        if source is None:
            fresh.append(name)
            continue
        if tuple(source.shape) != tuple(var.shape):
            raise JaxlmError(
                f"train.init_from: parameter '{name}' is {tuple(source.shape)} in {directory} but the model "
                f"expects {tuple(var.shape)}; match the model section to the checkpoint's config.yaml"
            )
        value = var.get_value()
        var.set_value(jax.device_put(jnp.asarray(source.get_value(), value.dtype), value.sharding))
        used.add(name)
    if not used:
        raise JaxlmError(f"train.init_from: {directory} shares no parameter with this model; is it the same family?")
    nnx.update(model, state)
    return fresh, sorted(set(saved) - used)
