"""Attention cores side by side, called exactly as the model calls them.

    python benchmarks/attention.py [--batch 8 --length 1024 --heads 12 --head-dim 64 --dtype bfloat16]

Causal self-attention, forward + backward, in the two row layouts the model sees:
- 'one doc/row': each row one document (+ padding), what encoders, T5 and unpacked decoders pass
  (`packed=False`): the fused cores get `is_causal` and sequence lengths, no dense mask;
- 'packed': several documents per row (causal LM batches): a dense mask keeps them apart, and
  `is_causal` still lets a causal kernel skip blocks.
The reference core (einsum + softmax) always applies the dense mask. Prints time per call, the
ratio to the reference core in the same run, TFLOP/s counted as the model counts them
(`jaxlm.train.flops.attention_flops`: causal attention at half the square) and the max abs
difference from a float32 reference on the real query rows. cuDNN rows appear only on a GPU.
Ratios are meaningful anywhere; absolute times only on an accelerator.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxlm.nn.attention_core import attention_weights, combine_values, fused_segment_attention
from jaxlm.nn.masks import attention_mask
from jaxlm.train.flops import attention_flops

DOCUMENTS_PER_PACKED_ROW = 4


def reference_core(q, k, v, segments, scale):
    """The model's reference core: the dense segment mask, softmax, weighted values."""
    mask = attention_mask(segments, segments, causal=True)
    return combine_values(attention_weights(q, k, mask, None, scale), v)


def fused_core(impl: str, packed: bool):
    def core(q, k, v, segments, scale):
        return fused_segment_attention(q, k, v, segments, segments, None, scale, impl, causal=True, packed=packed)
    return core


def timed(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / repeats


def layouts(batch: int, length: int) -> dict[str, np.ndarray]:
    """Segment ids per layout: full rows of one document, and rows of equal packed documents."""
    packed = 1 + np.arange(length) * DOCUMENTS_PER_PACKED_ROW // length
    return {"one doc/row": np.ones((batch, length), np.int32),
            "packed": np.broadcast_to(packed, (batch, length)).astype(np.int32)}


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
    scale = args.head_dim ** -0.5
    impls = ["xla"] + (["cudnn"] if jax.default_backend() == "gpu" else [])
    flops = attention_flops(args.batch, args.length, args.length, args.heads * args.head_dim, causal=True)

    print(f"device: {jax.devices()[0].device_kind}  shape [b, l, h, d] = {list(shape)}  dtype {args.dtype}  causal")
    print(f"{'layout':<12} {'core':<10} {'fwd+bwd ms':>11} {'vs ref':>7} {'TFLOP/s':>9} {'max |Δ| vs fp32 ref':>20}")
    for layout, segments in layouts(args.batch, args.length).items():
        segments = jnp.asarray(segments)
        expected = np.asarray(reference_core(*(x.astype(jnp.float32) for x in (q, k, v)), segments, scale))
        cores = {"reference": reference_core, **{impl: fused_core(impl, layout == "packed") for impl in impls}}
        base = None
        for name, core in cores.items():
            out = jax.jit(core, static_argnums=4)(q, k, v, segments, scale)
            error = float(np.max(np.abs(np.asarray(out, np.float32) - expected)))
            loss = lambda q, k, v, s, core=core: jnp.sum(core(q, k, v, s, scale).astype(jnp.float32))  # noqa: E731
            seconds = timed(jax.jit(jax.grad(loss, argnums=(0, 1, 2))), q, k, v, segments, repeats=args.repeats)
            base = base or seconds
            print(f"{layout:<12} {name:<10} {seconds * 1e3:>11.3f} {base / seconds:>6.2f}x "
                  f"{flops / seconds / 1e12:>9.2f} {error:>20.2e}")


if __name__ == "__main__":
    main()
