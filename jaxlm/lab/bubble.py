"""The GPipe bubble, measured: compiled FLOPs and step time of a pipelined layer stack against the
number of microbatches.

A p-stage pipeline over m microbatches runs m + p − 1 ticks, each one stage's work on one
microbatch, so with the microbatch size fixed a step costs C(m) = a·(m + p − 1): a line in m
whose intercept is p − 1 ticks of bubble. `compile_stack` compiles forward + backward through a
decoder's pipelined layer stack alone (the embedding and head, which do not pipeline, are left
out; the loss is mean(hidden²) of random hidden states) and reads, per device,

    FLOPs  `cost_analysis()` of the program compiled with every tick unrolled (it counts a
           scanned tick once)
    time   a call of the (scanned) program on real weights

`fit_ticks` fits C(m) = a·m + c to either, and `bubble_fractions` gives 1 − m·a/C(m), to set
beside the schedule's (p − 1)/(m + p − 1) (`jaxlm.parallel.bubble_fraction`). Under SPMD an idle
stage still computes (on a microbatch it then discards), so the bubble is wasted FLOPs, and on
host CPU devices wasted time rather than idle time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlm import parallel
from jaxlm.config import Config
from jaxlm.lab.measure import CompiledStep, compile_program
from jaxlm.nn.hooks import ExecutionHooks
from jaxlm.train.session import parallel_layout


def compile_stack(cfg: Config, *, unroll: bool) -> tuple[CompiledStep, Callable[[], float]]:
    """(the compiled ∇ through `cfg`'s pipelined decoder stack, a function timing one call of it in
    seconds). `cfg` sets the stages and microbatches; `unroll` traces every tick apart."""
    mesh, rules, _ = parallel_layout(cfg)
    hooks = ExecutionHooks(pipeline=parallel.GPipe(cfg.parallel.pipeline_microbatches, unroll=unroll))
    graphdef, params, rest = nnx.split(parallel.create_sharded_model(cfg.model, mesh, rules).decoder, nnx.Param, ...)
    shape = (cfg.data.batch_size, cfg.data.seq_length)
    x = jax.random.normal(jax.random.key(0), (*shape, cfg.model.d_model))
    segments, positions = jnp.ones(shape, jnp.int32), jnp.zeros(shape, jnp.int32)

    def loss(params: nnx.State, x: jax.Array) -> jax.Array:
        hidden, _ = nnx.merge(graphdef, params, rest)(x, segments, positions=positions)
        return jnp.mean(hidden**2)

    compiled = compile_program(cfg, jax.jit(jax.grad(loss, argnums=(0, 1))), (params, x), mesh, rules, hooks,
                               params)

    def run() -> float:
        started = time.perf_counter()
        jax.block_until_ready(compiled.executable(params, x))
        return time.perf_counter() - started

    run()  # warm up
    return compiled, run


def fit_ticks(costs: Mapping[int, float]) -> tuple[float, float]:
    """(a, c) of the least-squares line C(m) = a·m + c through {m: cost}; c / a is the bubble in ticks."""
    ms = sorted(costs)
    slope, intercept = np.polyfit(np.array(ms, float), np.array([costs[m] for m in ms]), 1)
    return float(slope), float(intercept)


def bubble_fractions(costs: Mapping[int, float]) -> dict[int, float]:
    """{m: 1 − m·a / C(m)}: the share of each measured cost that the fitted line puts outside the m
    microbatches' own work."""
    slope, _ = fit_ticks(costs)
    return {m: 1 - m * slope / cost for m, cost in costs.items()}
