"""Objectives: how a batch goes through a model, and the loss on what comes out.

`get_objective(name).loss(model, batch, deterministic=...) -> (loss, metrics)` runs `forward`
then the pure `loss_from_outputs(outputs, batch)`:

| objective | loss | metrics |
|---|---|---|
| mlm_nsp | mlm_loss + nsp_loss (NSP when the model has the head) | mlm_loss, mlm_accuracy, nsp_loss, nsp_accuracy |
| causal_lm, span_corruption, seq2seq | weighted token cross-entropy | token_accuracy, perplexity |
| classification | mean cross-entropy | accuracy |

Every metrics dict also holds `loss`. Batch keys are those of docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxlm.errors import JaxlmError
from jaxlm.objectives.losses import mean_cross_entropy, weighted_cross_entropy

Batch = dict[str, Any]
Metrics = dict[str, jax.Array]


def mlm_nsp_loss(outputs: dict, batch: Batch) -> tuple[jax.Array, Metrics]:
    mlm_loss, mlm_accuracy = weighted_cross_entropy(outputs["mlm_logits"], batch["mlm_targets"], batch["mlm_weights"])
    metrics = {"mlm_loss": mlm_loss, "mlm_accuracy": mlm_accuracy}
    loss = mlm_loss
    if "nsp_logits" in outputs:
        nsp_loss, nsp_accuracy = mean_cross_entropy(outputs["nsp_logits"], batch["nsp_labels"])
        metrics.update(nsp_loss=nsp_loss, nsp_accuracy=nsp_accuracy)
        loss = loss + nsp_loss
    return loss, {"loss": loss, **metrics}


def token_loss(outputs: dict, batch: Batch) -> tuple[jax.Array, Metrics]:
    loss, accuracy = weighted_cross_entropy(outputs["logits"], batch["targets"], batch["weights"])
    return loss, {"loss": loss, "token_accuracy": accuracy, "perplexity": jnp.exp(loss)}


def classification_loss(outputs: dict, batch: Batch) -> tuple[jax.Array, Metrics]:
    loss, accuracy = mean_cross_entropy(outputs["class_logits"], batch["labels"])
    return loss, {"loss": loss, "accuracy": accuracy}


def encoder_forward(model, batch: Batch, deterministic: bool) -> dict:
    return model(batch["inputs"], token_types=batch["token_types"], segments=batch["segments"],
                 mlm_positions=batch.get("mlm_positions"), deterministic=deterministic)


def decoder_forward(model, batch: Batch, deterministic: bool) -> dict:
    return model(batch["inputs"], segments=batch["segments"], positions=batch["positions"],
                 deterministic=deterministic)


def encoder_decoder_forward(model, batch: Batch, deterministic: bool) -> dict:
    return model(batch["inputs"], batch["decoder_inputs"], segments=batch["segments"], positions=batch["positions"],
                 decoder_segments=batch["decoder_segments"], decoder_positions=batch["decoder_positions"],
                 deterministic=deterministic)


@dataclasses.dataclass(frozen=True)
class Objective:
    """`forward(model, batch, deterministic) -> outputs`; `loss_from_outputs(outputs, batch) -> (loss, metrics)`."""

    name: str
    forward: Callable[[Any, Batch, bool], dict]
    loss_from_outputs: Callable[[dict, Batch], tuple[jax.Array, Metrics]]

    def loss(self, model, batch: Batch, *, deterministic: bool = False) -> tuple[jax.Array, Metrics]:
        return self.loss_from_outputs(self.forward(model, batch, deterministic), batch)


OBJECTIVES = {
    "mlm_nsp": Objective("mlm_nsp", encoder_forward, mlm_nsp_loss),
    "causal_lm": Objective("causal_lm", decoder_forward, token_loss),
    "span_corruption": Objective("span_corruption", encoder_decoder_forward, token_loss),
    "seq2seq": Objective("seq2seq", encoder_decoder_forward, token_loss),
    "classification": Objective("classification", encoder_forward, classification_loss),
}


def get_objective(name: str) -> Objective:
    """The objective registered as `name` (a `data.objective` value)."""
    if name not in OBJECTIVES:
        raise JaxlmError(f"data.objective: '{name}' is not one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]
