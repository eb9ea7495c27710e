"""Sharding strategies side by side on one mesh of devices (8 host CPU devices by default).

    python benchmarks/sharding.py [--devices 8 --steps 10 --preset gpt2_tiny --batch 16]

For each strategy prints: the compiled per-device bytes of parameters + AdamW state (from
`memory_analysis()` of the sharded initialiser), the train-step time relative to dp measured
in the same run, and the analytic communication bytes per layer (fwd+bwd) from these formulas,
after the scaling book (https://jax-ml.github.io/scaling-book/; B tokens per step, D d_model,
F d_ff, X the data/fsdp degree, Y the tensor degree):

    dp      8DF                        gradient all-reduce
    fsdp    4DF + 8DF                  weight all-gather fwd+bwd, gradient reduce-scatter
    tp      4BD + 4BD                  Megatron: activation all-reduces fwd and bwd
    dp_tp   8BD/X + 8DF/Y              tp on each replica's B/X tokens + all-reduce of 1/Y grads
            (tp runs on data=2 x tensor=4 for a 4-head model, so it uses the dp_tp formula)
    fsdp_tp (4BD/X + 4DF/Y) + (8BD/X + 8DF/Y)

On CPU the step times measure XLA's host collectives, not an interconnect: read the memory
column as exact and the time column as a sanity check only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8, help="host CPU devices to simulate")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per strategy")
    parser.add_argument("--preset", default="gpt2_tiny")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={args.devices}"

    import jax
    import numpy as np
    import optax

    from jaxlm import parallel
    from jaxlm.config import load_config
    from jaxlm.train.step import init_train_state, jit_train_step, make_train_step, split_model

    def loss_fn(model, batch, *, deterministic):
        logits = model(batch["inputs"], deterministic=deterministic)["logits"]
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["targets"]).mean()
        return loss, {"loss": loss}

    meshes = {"dp": (), "fsdp": (), "tp": ("parallel.tensor=4", "parallel.data=-1"), "dp_tp": ("parallel.tensor=2",),
              "fsdp_tp": ("parallel.tensor=2",)}
    rows = []
    for strategy, mesh_overrides in meshes.items():
        cfg = load_config(args.preset, [f"parallel.strategy={strategy}", *mesh_overrides,
                                        f"data.batch_size={args.batch}", "model.dropout_rate=0.0"])
        if cfg.model.family != "decoder":
            raise SystemExit(f"--preset {args.preset}: this harness times decoders; pick gpt2_tiny or gpt2_small")
        mesh = parallel.make_mesh(cfg.parallel)
        sizes = parallel.mesh_sizes(mesh)
        if cfg.model.num_heads % sizes["tensor"]:
            rows.append((strategy, sizes, None, None, None))
            continue
        rules = parallel.rules_for(strategy)
        graphdef, params, rngs = split_model(parallel.create_sharded_model(cfg.model, mesh, rules, seed=0))
        tx = optax.adamw(1e-3)
        init = lambda p, tx=tx: init_train_state(p, tx)  # noqa: E731
        shardings = parallel.state_shardings(jax.eval_shape(init, params), mesh, rules)
        init_jit = jax.jit(init, out_shardings=shardings)
        state_bytes = init_jit.lower(params).compile().memory_analysis().output_size_in_bytes
        state = init_jit(params)
        step = jit_train_step(make_train_step(graphdef, rngs, loss_fn, tx), shardings, parallel.batch_sharding(mesh))
        rng = np.random.default_rng(0)
        shape = (args.batch, cfg.data.seq_length)
        batch = parallel.shard_batch({
            "inputs": rng.integers(0, cfg.model.vocab_size, shape).astype(np.int32),
            "targets": rng.integers(0, cfg.model.vocab_size, shape).astype(np.int32),
        }, mesh)
        times = []
        with parallel.use_mesh(mesh, rules):
            for i in range(args.steps + 2):
                start = time.perf_counter()
                state, metrics = step(state, batch)
                jax.block_until_ready(metrics["loss"])
                if i >= 2:  # the first calls compile
                    times.append(time.perf_counter() - start)
        comm = comm_bytes(strategy, args.batch * cfg.data.seq_length, cfg.model.d_model, cfg.model.d_ff, sizes)
        rows.append((strategy, sizes, state_bytes, statistics.median(times), comm))

    dp_time = rows[0][3]
    platform = jax.devices()[0].platform
    print(f"{args.preset}, batch {args.batch} x {cfg.data.seq_length} tokens, {args.devices} {platform} devices")
    print(f"{'strategy':9} {'mesh d/f/t':>11} {'param+opt MB/dev':>17} {'step vs dp':>11} {'comm MB/layer':>14}")
    for strategy, sizes, state_bytes, seconds, comm in rows:
        mesh_text = f"{sizes['data']}/{sizes['fsdp']}/{sizes['tensor']}"
        if state_bytes is None:
            print(f"{strategy:9} {mesh_text:>11}   (heads not divisible by tensor; skipped)")
            continue
        print(f"{strategy:9} {mesh_text:>11} {state_bytes / 1e6:17.3f} {seconds / dp_time:11.2f} {comm / 1e6:14.3f}")


def comm_bytes(strategy: str, tokens: int, d: int, f: int, sizes: dict[str, int]) -> float:
    """The module docstring's per-layer fwd+bwd communication bytes for one strategy on this mesh."""
    b, x, y = tokens, sizes["data"] * sizes["fsdp"], sizes["tensor"]
    return {
        "dp": 8 * d * f,
        "fsdp": 4 * d * f + 8 * d * f,
        "tp": 8 * b * d / x + (8 * d * f / y if x > 1 else 0),
        "dp_tp": 8 * b * d / x + 8 * d * f / y,
        "fsdp_tp": (4 * b * d / x + 4 * d * f / y) + (8 * b * d / x + 8 * d * f / y),
    }[strategy]


if __name__ == "__main__":
    main()
