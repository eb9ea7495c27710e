"""The parallel section: mesh shape and the sharding strategy (a logical→mesh rule table)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from jaxlm.config.schema import require

Strategy = Literal["dp", "fsdp", "tp", "dp_tp", "fsdp_tp"]


@dataclasses.dataclass(frozen=True)
class ParallelConfig:
    """Mesh axes ('data', 'fsdp', 'tensor'); -1 on one axis fills the remaining devices."""

    strategy: Strategy = "dp"
    data: int = -1
    fsdp: int = 1
    tensor: int = 1

    def validate(self, prefix: str = "parallel") -> None:
        sizes = {"data": self.data, "fsdp": self.fsdp, "tensor": self.tensor}
        for name, size in sizes.items():
            require(size == -1 or size > 0, f"{prefix}.{name}", "must be positive or -1 (fill)")
        require(
            list(sizes.values()).count(-1) <= 1, prefix,
            "only one of data, fsdp, tensor may be -1",
        )
