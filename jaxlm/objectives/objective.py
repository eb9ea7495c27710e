"""Objectives: how a batch goes through a model, and the loss on what comes out.

Every loss here is a sum of weighted cross-entropy terms, each a `Term` naming the output logits,
the batch's targets and the batch's weights (one per target when None):

    loss = Σ_terms Σ w·nll / max(W, ε)        W = Σ w over the whole batch

| objective | terms: (loss metric, accuracy metric) weighted by | extra metrics |
|---|---|---|
| mlm_nsp | (mlm_loss, mlm_accuracy) by mlm_weights; (nsp_loss, nsp_accuracy) per row (NSP head only) | |
| causal_lm, span_corruption, seq2seq | (loss, token_accuracy) by weights | perplexity |
| classification | (loss, accuracy) per row | |

W depends on the batch only, so it is known before the forward pass: a microbatch of the batch is
normalised by the whole batch's W, and the microbatches' losses (and gradients) add up to exactly
the whole batch's. Metrics travel as (sum, weight) pairs and are divided once, by `finalize`.

    loss, pairs = objective.loss(model, batch, deterministic=False)
    metrics = objective.finalize(pairs)       # {'loss', 'token_accuracy', 'perplexity', ...}

Batch keys are those of docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxlm.errors import JaxlmError
from jaxlm.objectives.losses import Pair, cross_entropy_sums, ratio

Batch = Mapping[str, Any]
Pairs = dict[str, Pair]
Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Term:
    """One cross-entropy term: outputs[logits] [..., C] against batch[targets] [...], weighted by
    batch[weights] [...] (1 per target when None). Its metrics are named `loss_metric` and
    `accuracy_metric`."""

    loss_metric: str
    accuracy_metric: str
    logits: str
    targets: str
    weights: str | None = None

    def target_weights(self, batch: Batch) -> jax.Array:
        targets = batch[self.targets]
        if self.weights is None:
            return jnp.ones(jnp.shape(targets), jnp.float32)
        return jnp.asarray(batch[self.weights], jnp.float32)


# The builders give encoder rows and encoder–decoder pairs one document each, padded at the end
# (`packed=False`: sequence lengths instead of a dense mask); causal LM rows are packed.

def encoder_forward(model, batch: Batch, deterministic: bool) -> dict:
    return model(batch["inputs"], token_types=batch["token_types"], segments=batch["segments"],
                 mlm_positions=batch.get("mlm_positions"), deterministic=deterministic, packed=False)


def decoder_forward(model, batch: Batch, deterministic: bool) -> dict:
    return model(batch["inputs"], segments=batch["segments"], positions=batch["positions"],
                 deterministic=deterministic)


def encoder_decoder_forward(model, batch: Batch, deterministic: bool) -> dict:
    return model(batch["inputs"], batch["decoder_inputs"], segments=batch["segments"], positions=batch["positions"],
                 decoder_segments=batch["decoder_segments"], decoder_positions=batch["decoder_positions"],
                 deterministic=deterministic, packed=False)


@dataclasses.dataclass(frozen=True)
class Objective:
    """`forward(model, batch, deterministic) -> outputs`, and the loss `terms` on the outputs.

    A term whose logits the model does not output (BERT without its NSP head) is left out.
    `perplexity` adds exp(loss) to the metrics.
    """

    name: str
    forward: Callable[[Any, Batch, bool], dict]
    terms: tuple[Term, ...]
    perplexity: bool = False

    def weights(self, batch: Batch) -> dict[str, jax.Array]:
        """W of each term whose targets are in `batch`, keyed by its loss metric: Σ weights, float32."""
        return {t.loss_metric: jnp.sum(t.target_weights(batch)) for t in self.terms if t.targets in batch}

    def loss_from_outputs(
        self, outputs: Mapping[str, jax.Array], batch: Batch, weights: Mapping[str, jax.Array] | None = None
    ) -> tuple[jax.Array, Pairs]:
        """(loss, metric pairs) of `outputs` on `batch`.

        weights: each term's W when `batch` is part of a larger batch (its microbatch); by default
        `batch`'s own, so the loss is `batch`'s mean.
        """
        weights = self.weights(batch) if weights is None else weights
        loss, pairs = jnp.zeros((), jnp.float32), {}
        for term in self.terms:
            if term.logits not in outputs:
                continue
            w = term.target_weights(batch)
            nll, correct = cross_entropy_sums(outputs[term.logits], batch[term.targets], w)
            loss = loss + ratio(nll, weights[term.loss_metric])
            pairs[term.loss_metric] = (nll, jnp.sum(w))
            pairs[term.accuracy_metric] = (correct, jnp.sum(w))
        return loss, pairs

    def loss(
        self, model, batch: Batch, *, deterministic: bool = False, weights: Mapping[str, jax.Array] | None = None
    ) -> tuple[jax.Array, Pairs]:
        """`loss_from_outputs` of the model's forward pass on `batch`."""
        return self.loss_from_outputs(self.forward(model, batch, deterministic), batch, weights)

    def finalize(self, pairs: Pairs) -> Metrics:
        """Metric values from summed pairs: each sum / max(weight, ε); 'loss' = Σ of the terms' losses."""
        metrics = {name: ratio(*pair) for name, pair in pairs.items()}
        metrics["loss"] = sum(metrics[t.loss_metric] for t in self.terms if t.loss_metric in pairs)
        if self.perplexity:
            metrics["perplexity"] = jnp.exp(metrics["loss"])
        return metrics


TOKENS = (Term("loss", "token_accuracy", "logits", "targets", "weights"),)

OBJECTIVES = {
    "mlm_nsp": Objective("mlm_nsp", encoder_forward, (
        Term("mlm_loss", "mlm_accuracy", "mlm_logits", "mlm_targets", "mlm_weights"),
        Term("nsp_loss", "nsp_accuracy", "nsp_logits", "nsp_labels"),
    )),
    "causal_lm": Objective("causal_lm", decoder_forward, TOKENS, perplexity=True),
    "span_corruption": Objective("span_corruption", encoder_decoder_forward, TOKENS, perplexity=True),
    "seq2seq": Objective("seq2seq", encoder_decoder_forward, TOKENS, perplexity=True),
    "classification": Objective("classification", encoder_forward,
                                (Term("loss", "accuracy", "class_logits", "labels"),)),
}


def get_objective(name: str) -> Objective:
    """The objective registered as `name` (a `data.objective` value)."""
    if name not in OBJECTIVES:
        raise JaxlmError(f"data.objective: '{name}' is not one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]
