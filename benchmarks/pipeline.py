"""The GPipe bubble, measured: compiled FLOPs and step time against the number of microbatches.

    python benchmarks/pipeline.py [--stages 4 --rows 4 --microbatches 1 2 4 8 --rounds 7]

For forward + backward through gpt2_tiny's pipelined layer stack (p layers, one per stage,
`--rows` rows of 64 tokens per microbatch) and each m, `jaxlm.lab.bubble.compile_stack` gives the
FLOPs per device of the program compiled with every tick unrolled, and the fastest of `--rounds`
interleaved rounds of the (scanned) program times it. A p-stage pipeline over m microbatches runs
m + p − 1 ticks, so each cost is a line C(m) = a·m + c whose intercept is p − 1 ticks of bubble:
the script prints the fitted c / a and the bubble fraction 1 − m·a/C(m) beside the predicted
(p − 1)/(m + p − 1) (see `jaxlm/lab/bubble.py`).
"""

from __future__ import annotations

import argparse
import os


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

    from jaxlm import parallel
    from jaxlm.config import load_config
    from jaxlm.lab.bubble import bubble_fractions, compile_stack, fit_ticks

    p = args.stages

    def config(m: int):
        return load_config("gpt2_tiny", [
            f"model.num_layers={p}", "model.scan_layers=true", "model.dropout_rate=0", "data.seq_length=64",
            f"data.batch_size={args.rows * m}", f"parallel.stage={p}", f"parallel.pipeline_microbatches={m}",
        ])

    flops = {m: compile_stack(config(m), unroll=True)[0].flops for m in args.microbatches}
    runs = {m: compile_stack(config(m), unroll=False)[1] for m in args.microbatches}
    times: dict[int, list[float]] = {m: [] for m in runs}
    for _ in range(args.rounds):
        for m, run in runs.items():
            times[m].append(run())
    fastest = {m: min(t) for m, t in times.items()}  # the least disturbed round of a shared machine
    costs = {"flops": flops, "time": fastest}
    ticks = {name: fit_ticks(cost)[1] / fit_ticks(cost)[0] for name, cost in costs.items()}
    bubbles = {name: bubble_fractions(cost) for name, cost in costs.items()}
    print(f"gpt2_tiny, {p} stages x 1 layer, {args.rows} rows x 64 tokens per microbatch, "
          f"{p} {jax.devices()[0].platform} devices; bubble ticks (intercept / slope) "
          f"FLOPs {ticks['flops']:.2f}, time {ticks['time']:.2f}, predicted p - 1 = {p - 1}")
    print(f"{'microbatches':>12} {'GFLOP/dev':>10} {'step ms':>9} {'bubble FLOPs':>13} {'bubble time':>12} "
          f"{'predicted':>10}")
    for m in args.microbatches:
        predicted = parallel.bubble_fraction(parallel.gpipe_schedule(p, m))
        print(f"{m:12d} {flops[m] / 1e9:10.3f} {fastest[m] * 1e3:9.2f} {bubbles['flops'][m]:13.3f} "
              f"{bubbles['time'][m]:12.3f} {predicted:10.3f}")


if __name__ == "__main__":
    main()
