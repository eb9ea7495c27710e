"""The train and checkpoint sections: optimizer, schedule, loop cadence and Orbax settings."""

from __future__ import annotations

import dataclasses
from typing import Literal

from jaxlm.config.schema import require


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    steps: int = 100
    learning_rate: float = 1e-3
    warmup_steps: int = 10
    seed: int = 0

    def validate(self, prefix: str = "train") -> None:
        require(self.steps > 0, f"{prefix}.steps", "must be positive")
        require(self.learning_rate > 0, f"{prefix}.learning_rate", "must be positive")
        require(self.warmup_steps >= 0, f"{prefix}.warmup_steps", "must be >= 0")


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    every: int = 0
    keep: int = 3
    async_save: bool = True
    mode: Literal["min", "max"] = "min"

    def validate(self, prefix: str = "checkpoint") -> None:
        require(self.every >= 0, f"{prefix}.every", "must be >= 0 (0 saves only at the end)")
        require(self.keep > 0, f"{prefix}.keep", "must be positive")
