"""Looking inside a model: attention maps, for notebooks and teaching."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from flax import nnx

from jaxlm.nn.attention import MultiHeadAttention


@contextlib.contextmanager
def recorded_attention(model: nnx.Module) -> Iterator[dict[str, np.ndarray]]:
    """Record every attention layer's weights for the calls made inside the block.

        with recorded_attention(model) as maps:
            model(tokens)
        maps["decoder.layers.0.self_attention"]   # [b, heads, lq, lk]

    Needs `attention_impl='reference'` (fused cores never materialise the weights). Each value
    holds the weights of the last call. Not for use under `jax.jit` or a scanned stack.
    """
    layers = {
        ".".join(map(str, path)): module
        for path, module in nnx.iter_graph(model)
        if isinstance(module, MultiHeadAttention)
    }
    if any(layer.impl != "reference" for layer in layers.values()):
        raise ValueError("recording attention needs model.attention_impl=reference")
    maps: dict[str, np.ndarray] = {}
    for layer in layers.values():
        layer.record_weights = True
    try:
        yield maps
    finally:
        for name, layer in layers.items():
            layer.record_weights = False
            recorded = nnx.pop(layer, nnx.Intermediate)
            values = [v for _, v in nnx.to_flat_state(recorded)]
            if values:
                maps[name] = np.asarray(values[0].get_value()[-1])
