"""Objectives: numpy example builders per recipe (bert, causal_lm, span_corruption, seq2seq,
classification; wired by `builders.make_example_builder`) and jnp losses (`get_objective`)."""

from jaxlm.objectives.objective import OBJECTIVES, Objective, Term, get_objective

__all__ = ["OBJECTIVES", "Objective", "Term", "get_objective"]
