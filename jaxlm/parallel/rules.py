"""Sharding strategies as rule tables: logical axis name → mesh axes (or None: replicated).

A strategy is nothing but one of these tables (MaxText's and T5X's idea): the model names its
axes (`jaxlm.nn.params.LOGICAL_AXES`, plus `residual_length` for activations), the table says
where each goes on the ('data', 'stage', 'fsdp', 'context', 'tensor') mesh. In every table the
batch is split over (data, fsdp).

    dp       parameters replicated; each device runs its slice of the batch.
    fsdp     ZeRO-3: parameters and optimizer state split along 'embed' over fsdp and
             all-gathered per layer when used; gradients reduce-scattered.
    tp       Megatron tensor parallelism: 'mlp', 'heads' and 'vocab' split over tensor.
    dp_tp    the tp table on a mesh that also has data > 1 (batch over data, weights over tensor).
    fsdp_tp  2-D: 'embed' over fsdp and 'mlp', 'heads', 'vocab' over tensor.

dp and dp_tp (and tp) share a table; they differ in which mesh axis fills by default
(`ParallelConfig.fill_axis`). Activations reuse the same names: a block's [batch, length,
embed] input has batch on (data, fsdp), so 'embed' cannot take fsdp again and stays whole.

Every table also splits the sequence ('length', 'residual_length') over context and the stacked
'layers' over stage; an axis of size 1 is dropped, so these rules cost nothing until
`parallel.context` or `parallel.stage` is set. Sequence parallelism (`sequence_parallel=True`)
adds tensor to 'residual_length': the residual stream is then split along the sequence over
context×tensor (see `jaxlm.nn.block`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from jax.sharding import PartitionSpec

from jaxlm.config import ConfigError
from jaxlm.config.parallel import Strategy

MeshAxes = str | tuple[str, ...] | None
Rules = tuple[tuple[str, MeshAxes], ...]

_BATCH = ("data", "fsdp")

_UNSHARDED = {"kv": None, "relpos_buckets": None}

_SPLIT = {"length": "context", "residual_length": "context", "layers": "stage"}

_TABLES: dict[str, dict[str, MeshAxes]] = {
    "dp": {"batch": _BATCH, "embed": None, "heads": None, "mlp": None, "vocab": None},
    "fsdp": {"batch": _BATCH, "embed": "fsdp", "heads": None, "mlp": None, "vocab": None},
    "tp": {"batch": _BATCH, "embed": None, "heads": "tensor", "mlp": "tensor", "vocab": "tensor"},
    "fsdp_tp": {"batch": _BATCH, "embed": "fsdp", "heads": "tensor", "mlp": "tensor", "vocab": "tensor"},
}
_TABLES["dp_tp"] = _TABLES["tp"]

STRATEGIES: tuple[str, ...] = ("dp", "fsdp", "tp", "dp_tp", "fsdp_tp")


def rules_for(strategy: Strategy, *, sequence_parallel: bool = False) -> Rules:
    """The rule table of `strategy`: ((logical name, mesh axes | None), ...) over the whole vocabulary."""
    if strategy not in _TABLES:
        raise ConfigError(f"parallel.strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")
    table = {**_TABLES[strategy], **_UNSHARDED, **_SPLIT}
    if sequence_parallel:
        table["residual_length"] = ("context", "tensor")
    return tuple(table.items())


def mesh_axes_for(name: str | None, rules: Rules) -> tuple[str, ...]:
    """The mesh axes a logical name maps to (first matching rule), as a tuple; () if none."""
    for logical, axes in rules:
        if logical == name:
            if axes is None:
                return ()
            return (axes,) if isinstance(axes, str) else tuple(axes)
    return ()


def logical_to_spec(
    names: Sequence[str | None], shape: Sequence[int], rules: Rules, sizes: Mapping[str, int]
) -> PartitionSpec:
    """PartitionSpec for an array of `shape` whose dimensions have logical `names`.

    `sizes`: {mesh axis: size}. Per dimension in order, a mesh axis is dropped when an earlier
    dimension already uses it, when it has size 1, or when the dimension is not divisible by
    the product of the axes kept so far times its size (a 2-class classifier stays whole
    under tp instead of failing).
    """
    used: set[str] = set()
    spec: list[str | tuple[str, ...] | None] = []
    for name, dim in zip(names, shape, strict=True):
        kept: list[str] = []
        for axis in mesh_axes_for(name, rules):
            size = sizes.get(axis, 1)
            if axis in used or size == 1 or dim % (math.prod(sizes[a] for a in kept) * size):
                continue
            kept.append(axis)
            used.add(axis)
        spec.append(None if not kept else kept[0] if len(kept) == 1 else tuple(kept))
    while spec and spec[-1] is None:
        spec.pop()
    return PartitionSpec(*spec)
