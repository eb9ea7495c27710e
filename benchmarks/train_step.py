"""Train-step throughput and MFU of a decoder preset under several compute settings, side by side.

    python benchmarks/train_step.py [--preset gpt2_small --batch 16 --length 1024 --steps 10]

Each row builds a training session (sharded step, AdamW, donated state) with one setting —
float32/xla, bfloat16/xla, bfloat16/cudnn (GPU only) — runs it on random tokens, and prints
step time, tokens/s, model TFLOP/s per device and MFU against the device's bf16 peak
(`jaxlm.train.flops`). Ratios between rows are meaningful anywhere; absolute numbers only on an
accelerator.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from jaxlm.config import load_config
from jaxlm.train.flops import peak_flops, train_flops
from jaxlm.train.session import build_session


def random_causal_batch(rows: int, length: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, vocab, (rows, length + 1), dtype=np.int32)
    return {
        "inputs": tokens[:, :-1], "targets": tokens[:, 1:],
        "segments": np.ones((rows, length), np.int32),
        "positions": np.broadcast_to(np.arange(length, dtype=np.int32), (rows, length)).copy(),
        "weights": np.ones((rows, length), np.float32),
    }


def measure(preset: str, overrides: list[str], batch: dict[str, np.ndarray], steps: int) -> tuple[float, float]:
    cfg = load_config(preset, overrides)
    session = build_session(cfg)
    device_batch = session.put_batch(batch)
    state = session.state
    for _ in range(2):  # compile and warm up
        state, metrics = session.train_step(state, device_batch)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = session.train_step(state, device_batch)
    jax.block_until_ready(metrics)
    return (time.perf_counter() - start) / steps, train_flops(cfg.model, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gpt2_small")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--only", nargs="*", default=None, help="setting names to run, e.g. 'bfloat16 / cudnn'")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every row")
    args = parser.parse_args()

    cfg = load_config(args.preset)
    batch = random_causal_batch(args.batch, args.length, cfg.model.vocab_size)
    common = [f"data.batch_size={args.batch}", f"data.seq_length={args.length}", "model.dropout_rate=0.0",
              "model.attention_dropout_rate=0.0", "parallel.strategy=dp",
              f"parallel.data={len(jax.devices())}", *args.overrides]
    settings = {"float32 / xla": ["model.dtype=float32", "model.attention_impl=xla"],
                "bfloat16 / xla": ["model.dtype=bfloat16", "model.attention_impl=xla"]}
    if jax.default_backend() == "gpu":
        settings["bfloat16 / cudnn"] = ["model.dtype=bfloat16", "model.attention_impl=cudnn"]
    if args.only:
        settings = {name: value for name, value in settings.items() if name in args.only}
    device = jax.devices()[0]
    peak = peak_flops(device)
    print(f"device: {device.device_kind} x{len(jax.devices())}  preset {args.preset}  "
          f"batch {args.batch} x {args.length} tokens")
    print(f"{'setting':<18} {'step ms':>9} {'vs fp32':>8} {'tokens/s':>11} {'TFLOP/s/dev':>12} {'MFU':>7}")
    base = None
    for name, overrides in settings.items():
        seconds, flops = measure(args.preset, common + overrides, batch, args.steps)
        base = base or seconds
        tflops = flops / seconds / len(jax.devices()) / 1e12
        mfu = f"{100 * tflops * 1e12 / peak:.1f}%" if peak else "n/a"
        print(f"{name:<18} {seconds * 1e3:>9.1f} {base / seconds:>7.2f}x "
              f"{args.batch * args.length / seconds:>11,.0f} {tflops:>12.1f} {mfu:>7}")


if __name__ == "__main__":
    main()
