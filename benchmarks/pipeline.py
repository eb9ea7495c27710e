"""The GPipe bubble, measured: compiled FLOPs and step time against the number of microbatches.

    python benchmarks/pipeline.py [--stages 4 --rows 4 --microbatches 1 2 4 8 --rounds 7]

A p-stage pipeline over m microbatches runs m + p − 1 ticks, each one stage's work on one
microbatch, so with the microbatch size fixed a step costs C(m) = a·(m + p − 1): a line in m
whose intercept is p − 1 ticks of bubble. For forward + backward through gpt2_tiny's pipelined
layer stack (p layers, one per stage, `--rows` rows of 64 tokens per microbatch; the embedding
and head, which do not pipeline, are left out) and each m, the script measures

    FLOPs  per device, from `cost_analysis()` of the program compiled with every tick unrolled
    time   the fastest of `--rounds` interleaved rounds of the (scanned) program

fits C(m) = a·m + c to each, and prints the bubble fraction 1 − m·a/C(m) beside the predicted
(p − 1)/(m + p − 1). Under SPMD an idle stage still computes (on a microbatch it then discards),
so the bubble is wasted FLOPs, and on host CPU devices wasted time rather than idle time.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=4)
    parser.add_argument("--rows", type=int, default=4, help="rows per microbatch")
    parser.add_argument("--microbatches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    args = parser.parse_args()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={args.stages}"

    import jax
    import numpy as np

    flops = {m: pipelined_step(args.stages, m, args.rows, unroll=True)[1] for m in args.microbatches}
    steps = {m: pipelined_step(args.stages, m, args.rows, unroll=False)[0] for m in args.microbatches}
    times: dict[int, list[float]] = {m: [] for m in steps}
    for _ in range(args.rounds):
        for m, run in steps.items():
            times[m].append(run())
    fastest = {m: min(t) for m, t in times.items()}  # the least disturbed round of a shared machine
    ms = np.array(args.microbatches, float)
    p = args.stages
    costs = {"flops": flops, "time": fastest}
    fits = {name: np.polyfit(ms, np.array([cost[m] for m in args.microbatches]), 1) for name, cost in costs.items()}
    print(f"gpt2_tiny, {p} stages x 1 layer, {args.rows} rows x 64 tokens per microbatch, "
          f"{p} {jax.devices()[0].platform} devices; bubble ticks (intercept / slope) "
          f"FLOPs {fits['flops'][1] / fits['flops'][0]:.2f}, time {fits['time'][1] / fits['time'][0]:.2f}, "
          f"predicted p - 1 = {p - 1}")
    print(f"{'microbatches':>12} {'GFLOP/dev':>10} {'step ms':>9} {'bubble FLOPs':>13} {'bubble time':>12} "
          f"{'predicted':>10}")
    for m in args.microbatches:
        bubble = {name: 1 - m * fits[name][0] / cost[m] for name, cost in costs.items()}
        print(f"{m:12d} {flops[m] / 1e9:10.3f} {fastest[m] * 1e3:9.2f} {bubble['flops']:13.3f} "
              f"{bubble['time']:12.3f} {(p - 1) / (m + p - 1):10.3f}")


def pipelined_step(stages: int, microbatches: int, rows: int, *, unroll: bool):
    """(a function timing one call, compiled FLOPs per device) of forward + backward through
    gpt2_tiny's layer stack on `stages` stages."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from jaxlm import parallel
    from jaxlm.config import load_config
    from jaxlm.nn.hooks import ExecutionHooks

    cfg = load_config("gpt2_tiny", [
        f"model.num_layers={stages}", "model.scan_layers=true", "model.dropout_rate=0", "data.seq_length=64",
        f"data.batch_size={rows * microbatches}", f"parallel.stage={stages}",
        f"parallel.pipeline_microbatches={microbatches}",
    ])
    mesh = parallel.make_mesh(cfg.parallel)
    parallel.check_divisibility(cfg, mesh)
    rules = parallel.rules_for(cfg.parallel.strategy)
    hooks = ExecutionHooks(pipeline=parallel.GPipe(microbatches, unroll=unroll))
    graphdef, params, rest = nnx.split(parallel.create_sharded_model(cfg.model, mesh, rules).decoder, nnx.Param, ...)
    shape = (cfg.data.batch_size, cfg.data.seq_length)
    x = jax.random.normal(jax.random.key(0), (*shape, cfg.model.d_model))
    segments = jnp.ones(shape, jnp.int32)

    def loss(params, x):
        hidden, _ = nnx.merge(graphdef, params, rest)(x, segments, positions=jnp.zeros(shape, jnp.int32))
        return jnp.mean(hidden**2)

    with parallel.use_mesh(mesh, rules, hooks):
        step = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, x).compile()

    def run() -> float:
        start = time.perf_counter()
        jax.block_until_ready(step(params, x))
        return time.perf_counter() - start

    run()  # warm up
    return run, step.cost_analysis()["flops"]


if __name__ == "__main__":
    main()
