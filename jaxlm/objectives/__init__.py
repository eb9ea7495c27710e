"""Objectives: per-recipe example stages for the grain loader (bert, causal_lm, span_corruption,
seq2seq, classification; wired to a config by `builders.make_loader`) and jnp losses (`get_objective`)."""

from jaxlm.objectives.builders import make_loader
from jaxlm.objectives.objective import OBJECTIVES, Objective, Term, get_objective

__all__ = ["OBJECTIVES", "Objective", "Term", "get_objective", "make_loader"]
