"""Compile time of the sharded initialiser against depth, scanned and unrolled layers.

    python benchmarks/init_compile.py [--preset gpt2_small --depths 2 12 24 --unrolled-depths 2 12]

For each depth, builds the jitted `jaxlm.parallel.sharded_initializer` of the preset with that many
layers (the mesh and rule table of the preset's parallel section over the local devices),
lowers it and compiles it, without running it. Scanned layers give XLA one block to compile
whatever the depth; unrolled layers one per layer. The table gives both times and the compile
time relative to the shallowest scanned row.
"""

from __future__ import annotations

import argparse
import time

import jax

from jaxlm import parallel
from jaxlm.config import load_config


def compile_seconds(preset: str, layers: int, scan: bool) -> tuple[float, float]:
    """(trace + lower seconds, compile seconds) of the sharded initialiser."""
    cfg = load_config(preset, [f"model.num_layers={layers}", f"model.scan_layers={str(scan).lower()}"])
    mesh = parallel.make_mesh(cfg.parallel)
    started = time.perf_counter()
    _, init = parallel.sharded_initializer(cfg.model, mesh, parallel.rules_for(cfg.parallel.strategy))
    keys = jax.ShapeDtypeStruct((2,), jax.random.key(0).dtype)
    with jax.set_mesh(mesh):
        lowered = init.lower(keys)
        lowered_at = time.perf_counter()
        lowered.compile()
    return lowered_at - started, time.perf_counter() - lowered_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gpt2_small")
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 12, 24])
    parser.add_argument("--unrolled-depths", type=int, nargs="*", default=[2, 12])
    args = parser.parse_args()

    print(f"device: {jax.devices()[0].device_kind} x{len(jax.devices())}  preset {args.preset}  sharded initialiser")
    print(f"{'layers':>6} {'layout':<9} {'trace+lower s':>14} {'compile s':>10} {'vs first scanned':>17}")
    base = None
    rows = [(n, True) for n in args.depths] + [(n, False) for n in args.unrolled_depths]
    for layers, scan in rows:
        lower_s, compile_s = compile_seconds(args.preset, layers, scan)
        base = base or compile_s
        print(f"{layers:>6} {'scanned' if scan else 'unrolled':<9} {lower_s:>14.2f} {compile_s:>10.2f} "
              f"{compile_s / base:>16.2f}x")


if __name__ == "__main__":
    main()
