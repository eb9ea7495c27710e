"""The data section: where text comes from, how it is tokenized, and which objective shapes it."""

from __future__ import annotations

import dataclasses
from typing import Literal

from jaxlm.config.schema import require

Objective = Literal["mlm_nsp", "causal_lm", "span_corruption", "seq2seq", "classification"]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """source: 'embedded' (the offline default corpus), 'local' (files under `path`) or
    'tfds' (a registered TFDS dataset named by `tfds_name`).
    objective: the recipe that turns documents into training examples.
    seq_length: tokens per example (encoder input length for seq2seq objectives);
    target_length: decoder length for seq2seq objectives (0 derives it).
    """

    source: Literal["embedded", "local", "tfds"] = "embedded"
    path: str = ""
    tfds_name: str = ""
    objective: Objective = "causal_lm"
    seq_length: int = 128
    target_length: int = 0
    batch_size: int = 8
    seed: int = 0

    def validate(self, prefix: str = "data") -> None:
        require(self.seq_length > 0, f"{prefix}.seq_length", "must be positive")
        require(self.target_length >= 0, f"{prefix}.target_length", "must be >= 0")
        require(self.batch_size > 0, f"{prefix}.batch_size", "must be positive")
        require(self.source != "local" or bool(self.path), f"{prefix}.path", "source=local needs data.path")
        require(
            self.source != "tfds" or bool(self.tfds_name), f"{prefix}.tfds_name", "source=tfds needs data.tfds_name"
        )
