"""Per-device activation memory under tensor, sequence and context parallelism, from the compiler.

    python benchmarks/activation_memory.py [--devices 4]

Compiles (never runs) the gradient of a 2-layer gpt2_tiny loss with respect to its parameters on
abstract inputs and prints `memory_analysis().temp_size_in_bytes` per device: the forward
activations kept for the backward pass and the backward's own temporaries (parameters and their
gradients are arguments and outputs, not temporaries). Each dimension is measured where it
matters, n = --devices ways, against one device with the same rows:

    sequence parallelism  wide and short (d_model 512, 4 × 64 tokens)
        tp n        sub-layer insides split by heads / mlp; the residual stream whole on every device
        tp n + sp   the residual stream split too; predicted (single − G)/n + G, where G are the
                    sub-layer inputs all-gathered for the column-parallel matmuls and kept for their
                    weight gradients (2 per layer and the LM head's: G = (2L + 1)·b·s·d·4 bytes)
    context parallelism   narrow and long (d_model 64, 2 × 1024 tokens)
        context n   every activation split along the sequence; predicted single / n

(Context parallelism on a wide, short model is dominated instead by the partial weight gradients
each device holds before their all-reduce, as under data parallelism.) Dropout is off.
"""

from __future__ import annotations

import argparse
import os

SEQUENCE_SHAPE = {"d_model": 512, "batch": 4, "length": 64}
CONTEXT_SHAPE = {"d_model": 64, "batch": 2, "length": 1024}
LAYERS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4, help="tensor / context degree (host CPU devices)")
    args = parser.parse_args()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={args.devices}"

    import jax

    n = args.devices
    print(f"gpt2_tiny, {LAYERS} layers, float32, {jax.devices()[0].platform} devices, compiled only")
    print(f"{'layout':24} {'shape b x s, d':>15} {'activation MB/dev':>18} {'vs single':>10} {'predicted':>10}")

    shape = SEQUENCE_SHAPE
    single = activation_bytes(shape, [], 1)
    tp = activation_bytes(shape, ["parallel.strategy=tp"], n)
    sp = activation_bytes(shape, ["parallel.strategy=tp", "parallel.sequence_parallel=true"], n)
    gathered = (2 * LAYERS + 1) * shape["batch"] * shape["length"] * shape["d_model"] * 4
    row(shape, "single", single, single)
    row(shape, f"tp {n}", tp, single)
    row(shape, f"tp {n} + sp", sp, single, ((single - gathered) / n + gathered) / single)

    shape = CONTEXT_SHAPE
    single = activation_bytes(shape, [], 1)
    row(shape, "single", single, single)
    for attention in ("ring", "all_gather"):
        split = activation_bytes(shape, [f"parallel.context={n}", f"parallel.context_attention={attention}"], n)
        row(shape, f"context {n} {attention}", split, single, 1 / n)


def row(shape: dict, name: str, nbytes: int, single: int, predicted: float | None = None) -> None:
    text = f"{shape['batch']} x {shape['length']}, {shape['d_model']}"
    expected = "" if predicted is None else f"{predicted:.3f}"
    print(f"{name:24} {text:>15} {nbytes / 1e6:18.3f} {nbytes / single:10.3f} {expected:>10}")


def activation_bytes(shape: dict, overrides: list[str], devices: int) -> int:
    """Compiled per-device temporary bytes of ∇loss(params) for gpt2_tiny of `shape` on `devices`."""
    return compile_gradient(shape, overrides, devices).memory_analysis().temp_size_in_bytes


def compile_gradient(shape: dict, overrides: list[str], devices: int):
    """∇loss(params) of gpt2_tiny of `shape` with `overrides`, compiled for `devices` host devices."""
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from jaxlm import parallel
    from jaxlm.config import load_config
    from jaxlm.models import build_model

    d, length = shape["d_model"], shape["length"]
    cfg = load_config("gpt2_tiny", [
        f"model.num_layers={LAYERS}", f"model.d_model={d}", f"model.d_ff={4 * d}", f"model.max_length={length}",
        f"data.seq_length={length}", f"data.batch_size={shape['batch']}", "model.dropout_rate=0", *overrides,
    ])
    mesh = parallel.make_mesh(cfg.parallel, jax.devices()[:devices])
    parallel.check_divisibility(cfg, mesh)
    rules = parallel.rules_for(cfg.parallel.strategy, sequence_parallel=cfg.parallel.sequence_parallel)
    graphdef, params, rest = nnx.split(nnx.eval_shape(lambda: build_model(cfg.model)), nnx.Param, ...)
    params = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                          params, parallel.state_shardings(params, mesh, rules))
    rows = jax.ShapeDtypeStruct((shape["batch"], length), jnp.int32, sharding=parallel.batch_sharding(mesh))

    def loss(params, inputs, targets):
        logits = nnx.merge(graphdef, params, rest)(inputs)["logits"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()

    with parallel.use_mesh(mesh, rules, parallel.execution_hooks(cfg.parallel, mesh)):
        return jax.jit(jax.grad(loss)).lower(params, rows, rows).compile()


if __name__ == "__main__":
    main()
