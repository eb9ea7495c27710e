"""The global batch of a config without any data: its shapes (to compile) and random values (to run).

Keys and dtypes are those of docs/ARCHITECTURE.md for `data.objective`; rows = `data.batch_size`,
L = `data.seq_length`, T = the decoder length (`objectives.builders.target_length`), P =
`data.max_predictions`. Random batches are one unpadded document per row (segments 1, positions
0…L−1, weights 1), so every token counts as work.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxlm.config import Config
from jaxlm.objectives.builders import target_length


def batch_shapes(cfg: Config) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{key: (global shape, dtype)} of one training batch of `cfg`."""
    rows, length = cfg.data.batch_size, cfg.data.seq_length
    i32, f32 = np.dtype(np.int32), np.dtype(np.float32)
    objective = cfg.data.objective
    if objective == "causal_lm":
        return {key: ((rows, length), f32 if key == "weights" else i32)
                for key in ("inputs", "targets", "segments", "positions", "weights")}
    if objective in ("span_corruption", "seq2seq"):
        target = target_length(cfg)
        shapes = {key: ((rows, length), i32) for key in ("inputs", "segments", "positions")}
        shapes |= {key: ((rows, target), i32)
                   for key in ("decoder_inputs", "targets", "decoder_segments", "decoder_positions")}
        return shapes | {"weights": ((rows, target), f32)}
    shapes = {key: ((rows, length), i32) for key in ("inputs", "token_types", "segments")}
    if objective == "classification":
        return shapes | {"labels": ((rows,), i32)}
    predictions = cfg.data.resolved_max_predictions
    return shapes | {
        "mlm_positions": ((rows, predictions), i32), "mlm_targets": ((rows, predictions), i32),
        "mlm_weights": ((rows, predictions), f32), "nsp_labels": ((rows,), i32),
    }


def abstract_batch(cfg: Config, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
    """The batch as ShapeDtypeStructs carrying `sharding` (rows over the batch axes)."""
    return {key: jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)
            for key, (shape, dtype) in batch_shapes(cfg).items()}


def random_batch(cfg: Config, seed: int = 0) -> dict[str, np.ndarray]:
    """A batch of random token ids with every position real (see the module docstring)."""
    rng = np.random.default_rng(seed)
    vocab = cfg.model.vocab_size
    batch = {}
    for key, (shape, dtype) in batch_shapes(cfg).items():
        if key in ("segments", "decoder_segments"):
            value = np.ones(shape, dtype)
        elif key in ("positions", "decoder_positions"):
            value = np.broadcast_to(np.arange(shape[1], dtype=dtype), shape).copy()
        elif key in ("weights", "mlm_weights"):
            value = np.ones(shape, dtype)
        elif key == "token_types":
            value = (np.arange(shape[1]) >= shape[1] // 2).astype(dtype)[None].repeat(shape[0], 0)
        elif key == "mlm_positions":
            value = rng.integers(0, cfg.data.seq_length, shape).astype(dtype)
        elif key in ("nsp_labels", "labels"):
            value = rng.integers(0, max(2, cfg.model.num_labels), shape).astype(dtype)
        else:
            value = rng.integers(1, vocab, shape).astype(dtype)
        batch[key] = value
    return batch
