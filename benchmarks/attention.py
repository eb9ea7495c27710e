"""Attention cores side by side: reference (einsum + softmax), XLA, and cuDNN's fused kernel.

    python benchmarks/attention.py [--batch 8 --length 1024 --heads 12 --head-dim 64 --dtype bfloat16]

Prints one table: forward+backward time per call, the ratio to the reference core measured in
the same run, achieved TFLOP/s, and the max abs difference of the output from the reference core
(float32 reference on the same inputs). cuDNN rows appear only on a GPU. Ratios are meaningful
anywhere; absolute times only on an accelerator.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxlm.nn.attention_core import attention_weights, combine_values, fused_attention
from jaxlm.nn.masks import attention_mask


def reference(q, k, v, mask, scale):
    return combine_values(attention_weights(q, k, mask, None, scale), v)


def timed(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    dtype = jnp.dtype(args.dtype)
    shape = (args.batch, args.length, args.heads, args.head_dim)
    keys = jax.random.split(jax.random.key(0), 3)
    q, k, v = (jax.random.normal(key, shape, dtype) for key in keys)
    segments = jnp.ones((args.batch, args.length), jnp.int32)
    mask = attention_mask(segments, segments, causal=True)
    scale = args.head_dim ** -0.5

    cores = {"reference": reference, "xla": lambda q, k, v, m, s: fused_attention(q, k, v, m, None, s, "xla")}
    if jax.default_backend() == "gpu":
        # cuDNN's kernel takes causality as a flag rather than a dense mask.
        cores["cudnn"] = lambda q, k, v, m, s: jax.nn.dot_product_attention(
            q, k, v, scale=s, is_causal=True, implementation="cudnn"
        )

    expected = np.asarray(reference(*(x.astype(jnp.float32) for x in (q, k, v)), mask, scale))
    # fwd 4·b·h·l²·d (two matmuls, causal half counted in full as the kernels do not skip it), bwd 2× fwd.
    flops = 3 * 4 * args.batch * args.heads * args.length**2 * args.head_dim
    rows, base = [], None
    for name, core in cores.items():
        out = jax.jit(core, static_argnums=4)(q, k, v, mask, scale)
        error = float(np.max(np.abs(np.asarray(out, np.float32) - expected)))
        loss = lambda q, k, v, core=core: jnp.sum(core(q, k, v, mask, scale).astype(jnp.float32))  # noqa: E731
        step = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
        seconds = timed(step, q, k, v, repeats=args.repeats)
        base = base or seconds
        rows.append((name, seconds * 1e3, base / seconds, flops / seconds / 1e12, error))

    print(f"device: {jax.devices()[0].device_kind}  shape [b, l, h, d] = {list(shape)}  dtype {args.dtype}  causal")
    print(f"{'core':<10} {'fwd+bwd ms':>11} {'speed-up':>9} {'TFLOP/s':>9} {'max |Δ| vs fp32 ref':>20}")
    for name, ms, speedup, tflops, error in rows:
        print(f"{name:<10} {ms:>11.3f} {speedup:>8.2f}x {tflops:>9.2f} {error:>20.2e}")


if __name__ == "__main__":
    main()
