"""The device mesh: axes ('data', 'stage', 'fsdp', 'context', 'tensor') sized from the parallel config.

Axis types are Auto (GSPMD). Current `jax.make_mesh` defaults to Explicit axes, where every
operation must be told how its output is sharded and a matmul whose contracting dimension is
sharded (FSDP's embed axis, Megatron's row-parallel projections) is an error unless the call
site spells out the result sharding. Our modules never name mesh axes, so with Auto axes the
parameters' shardings (from the rule table) and a few activation constraints at block
boundaries are enough: XLA's propagation inserts the all-gathers, reduce-scatters and
all-reduces. One model source then runs under every strategy unchanged. The two dimensions
whose communication XLA cannot infer — ring attention over `context` and the pipeline over
`stage` — are written out in `context.py` and `pipeline.py` with `jax.shard_map`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh

from jaxlm.config import Config, ConfigError, ParallelConfig
from jaxlm.config.parallel import MESH_AXES
from jaxlm.nn.hooks import ExecutionHooks
from jaxlm.parallel.context import ContextParallel, check_sequence
from jaxlm.parallel.pipeline import GPipe, check_pipeline


def mesh_shape(parallel_cfg: ParallelConfig, num_devices: int) -> tuple[int, ...]:
    """Sizes in MESH_AXES order for `num_devices`, filling the -1 axis; ConfigError if impossible."""
    sizes = parallel_cfg.axis_sizes()
    known = math.prod(s for s in sizes.values() if s != -1)
    fill = [name for name, size in sizes.items() if size == -1]
    if fill and num_devices % known == 0:
        sizes[fill[0]] = num_devices // known
    elif known != num_devices or fill:
        raise ConfigError(_mesh_problem(sizes, known, num_devices, parallel_cfg.fill_axis))
    return tuple(sizes[name] for name in MESH_AXES)


def _mesh_problem(sizes: dict[str, int], known: int, num_devices: int, fill_axis: str) -> str:
    """Why the axis sizes cannot tile `num_devices`, and the nearest fix."""
    fixed = {name: size for name, size in sizes.items() if size not in (-1, 1)}
    named = " * ".join(f"parallel.{name}={size}" for name, size in fixed.items())
    if known > num_devices:
        simulate = ("; on CPU, simulate 8 devices with XLA_FLAGS=--xla_force_host_platform_device_count=8"
                    if jax.default_backend() == "cpu" else "")
        return f"parallel: {named} needs {known} devices but JAX sees {num_devices}; lower it{simulate}"
    if num_devices % known == 0:
        return f"parallel: {named} uses {known} of {num_devices} devices; set parallel.{fill_axis}=-1 to fill the rest"
    filled = [f" (parallel.{name} takes the rest)" for name, size in sizes.items() if size == -1]
    divisors = ", ".join(str(d) for d in range(1, num_devices + 1) if num_devices % d == 0)
    return (f"parallel: {named} does not divide the {num_devices} devices{''.join(filled)}; "
            f"use sizes whose product is one of {divisors}")


def make_mesh(parallel_cfg: ParallelConfig, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A Mesh over `devices` (default: all devices of all processes) with Auto axis types."""
    devices = list(jax.devices() if devices is None else devices)
    shape = mesh_shape(parallel_cfg, len(devices))
    axis_types = (AxisType.Auto,) * len(MESH_AXES)
    if len(devices) == jax.device_count():
        return jax.make_mesh(shape, MESH_AXES, axis_types=axis_types, devices=devices)
    return Mesh(np.asarray(devices).reshape(shape), MESH_AXES, axis_types=axis_types)


def mesh_sizes(mesh: Mesh) -> dict[str, int]:
    """{axis name: size} of a mesh."""
    return dict(zip(mesh.axis_names, mesh.devices.shape, strict=True))


def check_divisibility(cfg: Config, mesh: Mesh) -> None:
    """ConfigError unless the batch splits over data×fsdp, heads and d_ff over tensor, sequences
    over context (and tensor, under sequence parallelism) and the layers over stages.

    Run once per training run after `make_mesh`; parameters themselves never fail (an axis
    that does not divide a dimension is dropped), so this is where a bad layout is caught.
    """
    sizes = mesh_sizes(mesh)
    rows = sizes["data"] * sizes["fsdp"]
    if cfg.data.batch_size % rows:
        raise ConfigError(
            f"data.batch_size={cfg.data.batch_size} is not divisible by parallel data*fsdp = {rows}; "
            f"set data.batch_size to a multiple of {rows}"
        )
    tensor = sizes["tensor"]
    for key in ("num_heads", "d_ff"):
        value = getattr(cfg.model, key)
        if value % tensor:
            raise ConfigError(
                f"model.{key}={value} is not divisible by parallel.tensor={tensor}; "
                f"set parallel.tensor to a divisor of {value}"
            )
    check_sequence(cfg, sizes)
    check_pipeline(cfg, sizes)


def execution_hooks(parallel_cfg: ParallelConfig, mesh: Mesh) -> ExecutionHooks:
    """Ring / all-gather attention when the mesh has context > 1, a GPipe pipeline when stage > 1."""
    sizes = mesh_sizes(mesh)
    return ExecutionHooks(
        context=ContextParallel(parallel_cfg.context_attention) if sizes["context"] > 1 else None,
        pipeline=GPipe(parallel_cfg.pipeline_microbatches) if sizes["stage"] > 1 else None,
    )
