"""Pipeline parallelism: the scanned layer stack cut into p consecutive groups of layers, one per
device along the `stage` mesh axis, run as a GPipe schedule over m microbatches.

The rule table splits the stacked parameters' leading [layers] axis over stage, so stage s
holds layers s·L/p … (s+1)·L/p − 1. The batch is cut into m microbatches (strided: microbatch j
is rows j, j+m, …, so each stays spread over every data shard). At clock tick t, stage s works
on microbatch t − s: stage 0 takes it from the input, every later stage takes what its
predecessor produced at tick t − 1, passed on with the microbatch's per-row inputs (segments,
positions) by a `ppermute` to the next stage, written below. After m + p − 1 ticks the last
stage has produced every microbatch; its outputs are summed over stage (a broadcast: the other
stages contribute zeros). `jax.grad` of this loop is the same schedule run backwards, gradients
travelling a stage back through ppermute's transpose.

Bubble: each stage does useful work in m of the m + p − 1 ticks, so the idle fraction is
(p − 1)/(m + p − 1) (`bubble_fraction`; `benchmarks/pipeline.py` measures it from compiled
FLOPs and step time). Under SPMD an idle stage still computes, on inputs whose results are
discarded. GPipe keeps all m microbatches' activations for the backward pass; 1F1B (which
bounds them at p) would need a hand-written backward schedule and is not implemented.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import PartitionSpec as P

from jaxlm.config import Config, ConfigError
from jaxlm.errors import JaxlmError
from jaxlm.nn.hooks import RunLayers

AXIS = "stage"
# Stages keep their sequences split over context by hand too: context-parallel attention then runs
# its per-device code directly (the gradient of a shard_map nested in this one fails to lower on jax 0.10).
CONTEXT_AXIS = "context"


def check_pipeline(cfg: Config, sizes: Mapping[str, int]) -> None:
    """ConfigError unless the layer stacks split over the stages and the batch into microbatches."""
    stages = sizes[AXIS]
    if stages == 1:
        return
    if not cfg.model.scan_layers:
        raise ConfigError(f"parallel.stage={stages} splits the scanned layer stack; set model.scan_layers=true")
    depths = {"model.num_layers": cfg.model.num_layers}
    if cfg.model.family == "encoder_decoder":
        depths["model.num_decoder_layers"] = cfg.model.resolved_decoder_layers
    for key, layers in depths.items():
        if layers % stages:
            raise ConfigError(
                f"{key}={layers} is not divisible by parallel.stage={stages}; "
                f"set parallel.stage to a divisor of {layers}"
            )
    m, rows = cfg.parallel.pipeline_microbatches, sizes["data"] * sizes["fsdp"]
    if cfg.data.batch_size % (m * rows):
        raise ConfigError(
            f"data.batch_size={cfg.data.batch_size} does not split into parallel.pipeline_microbatches={m} "
            f"microbatches over data*fsdp={rows}; set data.batch_size to a multiple of {m * rows}"
        )


def gpipe_schedule(stages: int, microbatches: int) -> np.ndarray:
    """[ticks, stages] int32: the microbatch each stage works on at each tick, −1 when idle."""
    ticks = microbatches + stages - 1
    tick, stage = np.meshgrid(np.arange(ticks), np.arange(stages), indexing="ij")
    work = tick - stage
    return np.where((work >= 0) & (work < microbatches), work, -1).astype(np.int32)


def bubble_fraction(schedule: np.ndarray) -> float:
    """The fraction of (tick, stage) slots in which a stage has no microbatch."""
    return float(np.mean(schedule < 0))


def _to_microbatches(x: jax.Array | None, m: int) -> jax.Array | None:
    """[b, ...] → [m, b/m, ...], microbatch j holding rows j, j+m, j+2m, …"""
    return None if x is None else jnp.swapaxes(x.reshape(x.shape[0] // m, m, *x.shape[1:]), 0, 1)


def _pad_ticks(x: jax.Array, extra: int) -> jax.Array:
    """[m, ...] → [m + extra, ...] with zeros after."""
    return jnp.pad(x, [(0, extra)] + [(0, 0)] * (x.ndim - 1))


def _from_microbatches(x: jax.Array) -> jax.Array:
    return jnp.swapaxes(x, 0, 1).reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _fold_in_microbatch(state: nnx.State, microbatch: jax.Array) -> nnx.State:
    """Dropout keys (one per layer) folded with the microbatch index, so microbatches draw apart."""
    def fold(x: Any) -> Any:
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.vmap(jax.random.fold_in, in_axes=(0, None))(x, microbatch)
        return x
    return jax.tree.map(fold, state)


@dataclasses.dataclass(frozen=True)
class GPipe:
    """The `jaxlm.nn.hooks.PipelineHook` for the current mesh's stage axis.

    `unroll` traces every tick apart instead of scanning one: compile time grows with m + p − 1,
    and the compiled program's FLOP count (which counts a scanned body once) covers every tick.
    """

    microbatches: int = 4
    unroll: bool = False

    def __call__(self, run: RunLayers, layers: nnx.Module, x: jax.Array, rows: tuple, common: tuple) -> jax.Array:
        stages, m = jax.sharding.get_abstract_mesh().shape[AXIS], self.microbatches
        if x.shape[0] % m:
            raise JaxlmError(
                f"a batch of {x.shape[0]} rows does not split into parallel.pipeline_microbatches={m}; "
                f"use a multiple of {m} rows"
            )
        graphdef, state = nnx.split(layers)
        schedule = jnp.asarray(gpipe_schedule(stages, m))
        last = stages - 1
        # what stage 0 takes at each tick: microbatch t, then (ticks m … m+p−2) zeros it discards
        feed = jax.tree.map(lambda a: _pad_ticks(_to_microbatches(a, m), last), (x, rows))

        def per_stage(state: nnx.State, feed: tuple, common: tuple) -> jax.Array:
            stage = jax.lax.axis_index(AXIS)

            def tick(received: tuple, tick_inputs: tuple) -> tuple[tuple, jax.Array]:
                work, fed = tick_inputs
                # stage 0 starts a microbatch, every other stage continues the one its predecessor
                # passed on: the activations together with the microbatch's per-row inputs
                x_in, rows_in = jax.tree.map(lambda new, old: jnp.where(stage == 0, new, old), fed, received)
                microbatch = jnp.clip(work[stage], 0, m - 1)  # idle ticks compute a copy that is discarded
                local = nnx.merge(graphdef, _fold_in_microbatch(state, microbatch))
                y = run(local, x_in, rows_in, common)
                to_next = jax.tree.map(lambda a: jax.lax.ppermute(a, AXIS, [(s, s + 1) for s in range(last)]),
                                       (y, rows_in))
                return to_next, y

            start = jax.lax.pcast(jax.tree.map(lambda a: jnp.zeros_like(a[0]), feed), AXIS, to="varying")
            _, produced = jax.lax.scan(tick, start, (schedule, feed), unroll=self.unroll)  # [ticks, ...]
            outputs = produced[last:]  # the last stage finishes microbatch j at tick j + p − 1
            return jax.lax.psum(jnp.where(stage == last, outputs, 0), AXIS)

        sequences = P(None, None, CONTEXT_AXIS)  # [microbatch, rows, length, ...]
        outputs = jax.shard_map(
            per_stage, in_specs=(P(AXIS), sequences, P()), out_specs=sequences, axis_names={AXIS, CONTEXT_AXIS},
        )(state, feed, common)
        return _from_microbatches(outputs)
