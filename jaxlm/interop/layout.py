"""A jaxlm model's weights as a flat dict of numpy arrays, always in the unrolled layout.

Paths are dotted: `decoder.layers.0.self_attention.query.kernel`. A scanned `LayerStack`
(`model.scan_layers`, one stacked [layers] axis) is split into per-layer entries on the way out
and stacked again on the way in, so the weight mappings never see the difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlm.nn.stack import stack_layers, unstack_layers


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """{'a': {0: {'b': x}}} → {'a.0.b': x}."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict:
    """{'a.0.b': x} → {'a': {0: {'b': x}}}: the inverse of `flatten` (digit parts become ints)."""
    tree: dict = {}
    for path, value in flat.items():
        parts = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def model_weights(model: nnx.Module) -> dict[str, np.ndarray]:
    """Every `nnx.Param` of `model` as {dotted path: numpy array}, layers unrolled."""
    pure = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    return {path: np.asarray(value) for path, value in flatten(unstack_layers(pure)).items()}


def load_weights(model: nnx.Module, weights: Mapping[str, np.ndarray]) -> None:
    """Write {dotted path: array} (unrolled layout, every parameter present) into `model`,
    stacking layers when the model is scanned and casting to each parameter's dtype."""
    state = nnx.state(model, nnx.Param)
    dtypes = {path: value.dtype for path, value in flatten(nnx.to_pure_dict(state)).items()}
    tree = unflatten(weights)
    if model.config.scan_layers:
        tree = stack_layers(tree)
    cast = {path: jnp.asarray(value, dtype=dtypes[path]) for path, value in flatten(tree).items()}
    nnx.replace_by_pure_dict(state, unflatten(cast))
    nnx.update(model, state)
