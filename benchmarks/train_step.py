"""Train-step throughput and MFU of a decoder preset, optionally beside transformers' GPT-2.

    python benchmarks/train_step.py [--preset gpt2_small --batch 16 --length 1024 --steps 10]
    python benchmarks/train_step.py --peer hf --batch 8 --length 256 \\
        model.num_layers=4 model.d_model=256 model.num_heads=4 model.d_ff=1024

Each row builds a training session (sharded step, AdamW, donated state) with one compute setting
— float32/xla, bfloat16/xla, bfloat16/cudnn (GPU only) — runs it on random tokens (one document
per row, which the causal-LM objective still treats as packed rows, as in training), and prints
step time, tokens/s, model TFLOP/s per device and MFU against the device's bf16 peak
(`jaxlm.train.flops`).

With `--peer hf`, transformers' `GPT2LMHeadModel` of the same shape (dropout off in both, tied
embeddings, gelu-tanh, pre-LN) trains with `torch.optim.AdamW` (same learning rate, betas, eps and
weight decay, which torch applies to every parameter; global-norm clipping at the same norm) on
the same batch on the same device; on a GPU its attention is SDPA, float32 matmuls may use TF32
(as XLA's do by default) and bfloat16 rows run under `torch.autocast`. jaxlm and torch take
turns, `--rounds` rounds of `--steps` steps each, and each row reports the median round; the
'vs hf' column is jaxlm's throughput over transformers' in that row. MFU is the same model FLOPs
(jaxlm's count) over each side's step time. Ratios are meaningful anywhere; absolute numbers only
on an accelerator. Independent of the data loader (no grain, TFDS or tokenizer).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import jax
import numpy as np

from jaxlm import parallel
from jaxlm.config import Config, load_config
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


def jaxlm_runner(cfg: Config, batch: dict[str, np.ndarray]) -> Callable[[int], float]:
    """run(steps) → seconds for `steps` train steps (compiled and warmed up first)."""
    session = build_session(cfg)
    device_batch = session.put_batch(batch)

    def run(steps: int) -> float:
        with parallel.use_mesh(session.mesh, session.rules):
            start = time.perf_counter()
            for _ in range(steps):
                session.state, metrics = session.train_step(session.state, device_batch)
            jax.block_until_ready(metrics)
        return time.perf_counter() - start

    run(2)
    return run


def hf_runner(cfg: Config, batch: dict[str, np.ndarray], bf16: bool) -> Callable[[int], float]:
    """transformers' GPT2LMHeadModel + torch AdamW of `cfg`'s shape; run(steps) → seconds."""
    import torch
    import transformers

    model_cfg, train_cfg = cfg.model, cfg.train
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True  # as XLA's default float32 matmuls on a GPU
    config = transformers.GPT2Config(
        vocab_size=model_cfg.vocab_size, n_positions=model_cfg.max_length, n_embd=model_cfg.d_model,
        n_layer=model_cfg.num_layers, n_head=model_cfg.num_heads, n_inner=model_cfg.d_ff,
        activation_function="gelu_new", layer_norm_epsilon=model_cfg.norm_eps,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True, attn_implementation="sdpa",
    )
    model = transformers.GPT2LMHeadModel(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_cfg.learning_rate, betas=(train_cfg.b1, train_cfg.b2),
                                  eps=train_cfg.eps, weight_decay=train_cfg.weight_decay)
    inputs = torch.as_tensor(batch["inputs"], dtype=torch.long, device=device)
    targets = torch.as_tensor(batch["targets"], dtype=torch.long, device=device)

    def step() -> torch.Tensor:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        loss.backward()
        if train_cfg.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.clip_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            loss = step()
        loss.item()  # waits for the device
        return time.perf_counter() - start

    run(2)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gpt2_small")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=10, help="steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per row (jaxlm and the peer take turns)")
    parser.add_argument("--peer", choices=["hf"], default=None, help="train transformers' GPT-2 alongside")
    parser.add_argument("--only", nargs="*", default=None, help="setting names to run, e.g. 'bfloat16 / cudnn'")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every row")
    args = parser.parse_args()

    common = [f"data.batch_size={args.batch}", f"data.seq_length={args.length}", "model.dropout_rate=0.0",
              "model.attention_dropout_rate=0.0", "parallel.strategy=dp", f"parallel.data={len(jax.devices())}",
              *args.overrides]
    batch = random_causal_batch(args.batch, args.length, load_config(args.preset, common).model.vocab_size)
    settings = {"float32 / xla": ["model.dtype=float32", "model.attention_impl=xla"],
                "bfloat16 / xla": ["model.dtype=bfloat16", "model.attention_impl=xla"]}
    if jax.default_backend() == "gpu":
        settings["bfloat16 / cudnn"] = ["model.dtype=bfloat16", "model.attention_impl=cudnn"]
    elif args.peer:  # bfloat16 matmuls are emulated on a CPU: only the float32 row compares anything
        settings.pop("bfloat16 / xla")
    if args.only:
        unknown = [name for name in args.only if name not in settings]
        if unknown:
            parser.error(f"--only {', '.join(map(repr, unknown))}: no such setting on this device; choose from "
                         f"{', '.join(map(repr, settings))} (put --only after the key=value overrides)")
        settings = {name: value for name, value in settings.items() if name in args.only}
    device = jax.devices()[0]
    peak = peak_flops(device)
    tokens = args.batch * args.length
    print(f"device: {device.device_kind} x{len(jax.devices())}  preset {args.preset} {' '.join(args.overrides)}  "
          f"batch {args.batch} x {args.length} tokens  median of {args.rounds} rounds x {args.steps} steps")
    header = f"{'setting':<18} {'step ms':>9} {'tokens/s':>11} {'TFLOP/s/dev':>12} {'MFU':>7}"
    print(header + (f" {'hf step ms':>11} {'hf MFU':>7} {'vs hf':>7}" if args.peer else ""))

    def mfu(seconds: float) -> str:
        return f"{100 * flops / seconds / len(jax.devices()) / peak:.1f}%" if peak else "n/a"

    for name, overrides in settings.items():
        cfg = load_config(args.preset, common + overrides)
        flops = train_flops(cfg.model, batch)
        runners = {"jaxlm": jaxlm_runner(cfg, batch)}
        if args.peer:
            runners["hf"] = hf_runner(cfg, batch, bf16=cfg.model.dtype == "bfloat16")
        rounds: dict[str, list[float]] = {side: [] for side in runners}
        for _ in range(args.rounds):
            for side, run in runners.items():
                rounds[side].append(run(args.steps) / args.steps)
        seconds = statistics.median(rounds["jaxlm"])
        line = (f"{name:<18} {seconds * 1e3:>9.1f} {tokens / seconds:>11,.0f} "
                f"{flops / seconds / len(jax.devices()) / 1e12:>12.3f} {mfu(seconds):>7}")
        if args.peer:
            hf_seconds = statistics.median(rounds["hf"])
            line += f" {hf_seconds * 1e3:>11.1f} {mfu(hf_seconds):>7} {hf_seconds / seconds:>6.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
