"""The parallel section: mesh shape and the sharding strategy (a logical→mesh rule table)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from jaxlm.config.schema import require

Strategy = Literal["dp", "fsdp", "tp", "dp_tp", "fsdp_tp"]

MESH_AXES = ("data", "fsdp", "tensor")

# The mesh axis that takes the remaining devices when no axis size is -1.
FILL_AXIS: dict[str, str] = {"dp": "data", "fsdp": "fsdp", "tp": "tensor", "dp_tp": "data", "fsdp_tp": "fsdp"}

# The strategies that shard anything over the tensor axis.
TENSOR_STRATEGIES = ("tp", "dp_tp", "fsdp_tp")


@dataclasses.dataclass(frozen=True)
class ParallelConfig:
    """Mesh axes ('data', 'fsdp', 'tensor') and the strategy that maps logical axes onto them.

    An axis size is a positive count, -1 (this axis takes the devices the others leave), or 0
    (the default: 1, except the strategy's own axis — data for dp/dp_tp, fsdp for fsdp/fsdp_tp,
    tensor for tp — which fills when no axis is -1). So `parallel.strategy=fsdp_tp
    parallel.tensor=2` on 8 devices is data=1, fsdp=4, tensor=2.
    """

    strategy: Strategy = "dp"
    data: int = 0
    fsdp: int = 0
    tensor: int = 0

    @property
    def fill_axis(self) -> str:
        """The axis that takes the remaining devices by default."""
        return FILL_AXIS[self.strategy]

    def axis_sizes(self) -> dict[str, int]:
        """{axis: size} with the defaults resolved; at most one size is -1 (fill)."""
        sizes = {"data": self.data, "fsdp": self.fsdp, "tensor": self.tensor}
        fill = -1 not in sizes.values()
        return {
            name: (-1 if fill and name == FILL_AXIS[self.strategy] else 1) if size == 0 else size
            for name, size in sizes.items()
        }

    def validate(self, prefix: str = "parallel") -> None:
        sizes = {"data": self.data, "fsdp": self.fsdp, "tensor": self.tensor}
        for name, size in sizes.items():
            require(size >= -1, f"{prefix}.{name}", "must be positive, -1 (fill) or 0 (default)")
        require(
            list(sizes.values()).count(-1) <= 1, prefix,
            "only one of data, fsdp, tensor may be -1",
        )
        require(
            self.tensor in (0, 1) or self.strategy in TENSOR_STRATEGIES, f"{prefix}.tensor",
            f"strategy {self.strategy} shards nothing over tensor={self.tensor}; "
            "set parallel.strategy to tp, dp_tp or fsdp_tp, or parallel.tensor=1",
        )
