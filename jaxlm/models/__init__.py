"""The three model families, built from the same blocks, and helpers to inspect them."""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.models.decoder import DecoderModel
from jaxlm.models.encoder import EncoderModel
from jaxlm.models.encoder_decoder import EncoderDecoderModel

Model = EncoderModel | DecoderModel | EncoderDecoderModel

FAMILIES: dict[str, type] = {
    "encoder": EncoderModel,
    "decoder": DecoderModel,
    "encoder_decoder": EncoderDecoderModel,
}

__all__ = ["FAMILIES", "DecoderModel", "EncoderDecoderModel", "EncoderModel", "Model", "build_model",
           "count_params", "parameter_table"]


def build_model(cfg: ModelConfig, *, seed: int = 0, rngs: nnx.Rngs | None = None) -> Model:
    """Instantiate the family named by `cfg.family` with fresh parameters (unsharded)."""
    rngs = rngs if rngs is not None else nnx.Rngs(params=seed, dropout=seed + 1)
    return FAMILIES[cfg.family](cfg, rngs=rngs)


def count_params(model: nnx.Module) -> int:
    """Number of parameter scalars; a weight shared by two layers is counted once."""
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


def parameter_table(model: nnx.Module) -> list[tuple[str, tuple[int, ...], str, tuple]]:
    """(path, shape, dtype, logical axes) for every parameter, in tree order."""
    rows = []
    for path, param in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        axes = param.get_metadata().get("out_sharding", ())
        rows.append((".".join(str(p) for p in path), tuple(param.shape), str(param.dtype), tuple(axes)))
    return rows
