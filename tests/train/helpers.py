"""Small shared pieces for the training tests: tiny configs and a self-contained LM loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxlm.config import Config, load_config

TINY_MODEL = ["model.d_model=32", "model.d_ff=64", "model.num_heads=2", "model.num_layers=1", "model.vocab_size=64"]


def tiny_config(name: str, *overrides: str) -> Config:
    """A preset shrunk to a one-layer, 32-wide model."""
    return load_config(name, [*TINY_MODEL, *overrides])


def lm_loss(model, batch, *, deterministic: bool):
    """Mean next-token cross-entropy of a decoder model (independent of jaxlm.objectives)."""
    logits = model(batch["inputs"], deterministic=deterministic)["logits"]
    nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), batch["targets"][..., None], axis=-1)[..., 0]
    loss = jnp.mean(nll)
    return loss, {"loss": loss}


def random_lm_batch(rows: int, length: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    tokens = np.random.default_rng(seed).integers(1, vocab, size=(rows, length + 1), dtype=np.int32)
    return {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]}
