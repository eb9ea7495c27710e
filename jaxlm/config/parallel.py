"""The parallel section: mesh shape, the sharding strategy (a logical→mesh rule table), and the
switches of the dimensions that split the sequence and the layer stack."""

from __future__ import annotations

import dataclasses
from typing import Literal

from jaxlm.config.schema import require

Strategy = Literal["dp", "fsdp", "tp", "dp_tp", "fsdp_tp"]
ContextAttention = Literal["ring", "all_gather"]

# Outermost to innermost: neighbouring devices share the innermost axes, so the chattiest
# (tensor, then context) sit there, and data and pipeline stages span the slowest links.
MESH_AXES = ("data", "stage", "fsdp", "context", "tensor")

# The mesh axis that takes the remaining devices when no axis size is -1.
FILL_AXIS: dict[str, str] = {"dp": "data", "fsdp": "fsdp", "tp": "tensor", "dp_tp": "data", "fsdp_tp": "fsdp"}

# The strategies that shard anything over the tensor axis.
TENSOR_STRATEGIES = ("tp", "dp_tp", "fsdp_tp")


@dataclasses.dataclass(frozen=True)
class ParallelConfig:
    """Mesh axes ('data', 'stage', 'fsdp', 'context', 'tensor') and how the model is laid on them.

    An axis size is a positive count, -1 (this axis takes the devices the others leave), or 0
    (the default: 1, except the strategy's own axis — data for dp/dp_tp, fsdp for fsdp/fsdp_tp,
    tensor for tp — which fills when no axis is -1). So `parallel.strategy=fsdp_tp
    parallel.tensor=2` on 8 devices is data=1, fsdp=4, tensor=2.

    stage: pipeline stages over the scanned layer stack (GPipe over `pipeline_microbatches`).
    context: devices that split every sequence through the whole block; attention across them
        by `context_attention` ('ring': keys and values travel round the ring; 'all_gather').
    sequence_parallel: Megatron sequence parallelism — under a tensor strategy, norms, dropout
        and residual adds work on sequences split over the tensor axis too.
    """

    strategy: Strategy = "dp"
    data: int = 0
    stage: int = 0
    fsdp: int = 0
    context: int = 0
    tensor: int = 0
    sequence_parallel: bool = False
    context_attention: ContextAttention = "ring"
    pipeline_microbatches: int = 4

    @property
    def fill_axis(self) -> str:
        """The axis that takes the remaining devices by default."""
        return FILL_AXIS[self.strategy]

    def _given_sizes(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in MESH_AXES}

    def axis_sizes(self) -> dict[str, int]:
        """{axis: size} in MESH_AXES order with the defaults resolved; at most one size is -1 (fill)."""
        sizes = self._given_sizes()
        fill = -1 not in sizes.values()
        return {
            name: (-1 if fill and name == FILL_AXIS[self.strategy] else 1) if size == 0 else size
            for name, size in sizes.items()
        }

    def validate(self, prefix: str = "parallel") -> None:
        sizes = self._given_sizes()
        for name, size in sizes.items():
            require(size >= -1, f"{prefix}.{name}", "must be positive, -1 (fill) or 0 (default)")
        require(
            list(sizes.values()).count(-1) <= 1, prefix,
            f"only one of {', '.join(MESH_AXES)} may be -1",
        )
        require(
            self.tensor in (0, 1) or self.strategy in TENSOR_STRATEGIES, f"{prefix}.tensor",
            f"strategy {self.strategy} shards nothing over tensor={self.tensor}; "
            "set parallel.strategy to tp, dp_tp or fsdp_tp, or parallel.tensor=1",
        )
        require(
            not self.sequence_parallel or self.strategy in TENSOR_STRATEGIES, f"{prefix}.sequence_parallel",
            f"splits sequences over the tensor axis, which strategy {self.strategy} does not use; "
            "set parallel.strategy to tp, dp_tp or fsdp_tp, or parallel.sequence_parallel=false",
        )
        require(self.pipeline_microbatches >= 1, f"{prefix}.pipeline_microbatches", "must be positive")
