"""Small shared pieces for the training tests: tiny configs, a plain next-token objective and batches."""

from __future__ import annotations

import numpy as np

from jaxlm.config import Config, load_config
from jaxlm.objectives import Objective, Term

TINY_MODEL = ["model.d_model=32", "model.d_ff=64", "model.num_heads=2", "model.num_layers=1", "model.vocab_size=64"]


def tiny_config(name: str, *overrides: str) -> Config:
    """A preset shrunk to a one-layer, 32-wide model."""
    return load_config(name, [*TINY_MODEL, *overrides])


def _decoder_forward(model, batch, deterministic: bool) -> dict:
    return model(batch["inputs"], deterministic=deterministic)


# Mean next-token cross-entropy of a decoder on unpadded rows: no segments, positions or weights.
LM = Objective("lm", _decoder_forward, (Term("loss", "token_accuracy", "logits", "targets"),))


def random_lm_batch(rows: int, length: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    tokens = np.random.default_rng(seed).integers(1, vocab, size=(rows, length + 1), dtype=np.int32)
    return {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]}
