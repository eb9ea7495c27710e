"""Objectives: per-recipe example stages for the grain loader (bert, causal_lm, span_corruption,
seq2seq, classification; wired to a config by `builders.make_loader`) and jnp losses (`get_objective`).

`make_loader` is imported on first use: the losses need neither grain nor the data layer, so a train
step (or `benchmarks/train_step.py` on a machine without grain) loads only them."""

from typing import Any

from jaxlm.objectives.objective import OBJECTIVES, Objective, Term, get_objective

__all__ = ["OBJECTIVES", "Objective", "Term", "get_objective", "make_loader"]


def __getattr__(name: str) -> Any:
    if name == "make_loader":
        from jaxlm.objectives.builders import make_loader

        return make_loader
    raise AttributeError(f"module 'jaxlm.objectives' has no attribute {name!r}")
