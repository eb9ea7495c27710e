"""Per-device activation memory under tensor, sequence and context parallelism: compiled against predicted.

    python benchmarks/activation_memory.py [--devices 4]

For each layout, `jaxlm.lab.measure.compile_gradient` compiles (never runs) the gradient of a
2-layer gpt2_tiny's loss with respect to its parameters on abstract inputs; its temporaries per
device are the forward activations kept for the backward pass and the backward's own scratch
(parameters and their gradients are arguments and outputs). Beside them,
`jaxlm.lab.memory.activation_bytes` predicts them from the rule table. Each dimension is measured
where it matters, n = --devices ways, and compared with the layout it splits further:

    sequence parallelism  wide and short (d_model 512, 4 × 64 tokens): tp n, then tp n + sp against tp n
    context parallelism   narrow and long (d_model 64, 2 × 1024 tokens): context n against one device

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
    groups = [  # (shape, [(layout, overrides, devices, the layout it is compared with)])
        (SEQUENCE_SHAPE, [("single", [], 1, None), (f"tp {n}", ["parallel.strategy=tp"], n, "single"),
                          (f"tp {n} + sp", ["parallel.strategy=tp", "parallel.sequence_parallel=true"], n, f"tp {n}")]),
        (CONTEXT_SHAPE, [("single", [], 1, None)] + [
            (f"context {n} {attention}", [f"parallel.context={n}", f"parallel.context_attention={attention}"], n,
             "single") for attention in ("ring", "all_gather")]),
    ]
    print(f"gpt2_tiny, {LAYERS} layers, float32, {jax.devices()[0].platform} devices, compiled only; "
          "activation MB per device, compiled and predicted (jaxlm.lab.memory)")
    print(f"{'layout':22} {'shape b x s, d':>15} {'compiled':>9} {'predicted':>10} {'against':>8} "
          f"{'compiled ratio':>15} {'predicted ratio':>16}")
    for shape, layouts in groups:
        text = f"{shape['batch']} x {shape['length']}, {shape['d_model']}"
        figures = {}
        for name, overrides, devices, against in layouts:
            figures[name] = measured, predicted = activation(shape, overrides, devices)
            ratios = ""
            if against:
                ratios = f"{against:>8} {measured / figures[against][0]:15.3f} {predicted / figures[against][1]:16.3f}"
            print(f"{name:22} {text:>15} {measured / 1e6:9.3f} {predicted / 1e6:10.3f} {ratios}")


def activation(shape: dict, overrides: list[str], devices: int) -> tuple[float, float]:
    """(compiled, predicted) activation bytes per device of gpt2_tiny of `shape` on `devices` host devices."""
    import jax

    from jaxlm.config import load_config
    from jaxlm.lab.measure import compile_gradient
    from jaxlm.lab.memory import activation_bytes

    d, length = shape["d_model"], shape["length"]
    cfg = load_config("gpt2_tiny", [
        f"model.num_layers={LAYERS}", f"model.d_model={d}", f"model.d_ff={4 * d}", f"model.max_length={length}",
        f"data.seq_length={length}", f"data.batch_size={shape['batch']}", "model.dropout_rate=0", *overrides,
    ])
    compiled = compile_gradient(cfg, jax.devices()[:devices])
    return compiled.memory["temporaries"], activation_bytes(compiled.layout())


if __name__ == "__main__":
    main()
