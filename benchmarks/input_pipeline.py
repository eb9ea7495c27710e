"""Input pipeline rate of each objective on the embedded corpus beside the train step's consumption.

    python benchmarks/input_pipeline.py [--presets bert_base gpt2_small t5_small --batches 20 --step-rows 2
                                         --workers 0 4]

Per preset (BERT MLM+NSP, GPT-2 causal LM, T5 span corruption) two rates, in examples (rows) per
second, measured in one run in interleaved rounds:
- pipeline: `jaxlm.objectives.make_loader` on the embedded corpus at the preset's batch shape
  (one process; `data.workers` = each of `--workers`), timed over `--batches` batches after two
  warm-up batches. Its tokenizer is trained with `--vocab` ids (the embedded corpus is too small
  for 30-50 k pieces); the tokenizer's size barely changes the rate.
- step: the preset's full model (its own vocabulary) training on `--step-rows` rows of those
  batches (same length), timed over `--steps` steps after compiling: rows / step time. On a CPU
  use few rows: a full bert_base batch of 256 rows takes minutes here. On an accelerator pass
  the preset's batch size to compare like with like.
The loader keeps up when pipeline / step ≥ 1 at the batch size you train with.
"""

from __future__ import annotations

import argparse
import itertools
import time

import jax

from jaxlm.config import load_config
from jaxlm.objectives import make_loader
from jaxlm.train.session import build_session


def pipeline_rate(cfg, batches: int) -> tuple[float, dict]:
    """Examples per second of one process's loader (after its first batches), and its first batch."""
    loader = make_loader(cfg, "train", process_index=0, process_count=1)
    try:
        first = next(loader)
        next(loader)
        start = time.perf_counter()
        for _ in range(batches):
            next(loader)
        return batches * cfg.data.batch_size / (time.perf_counter() - start), first
    finally:
        loader.close()


class StepTimer:
    """The preset's train step on a fixed batch: compiled once, then timed per round."""

    def __init__(self, preset: str, batch: dict, devices: int):
        rows = len(batch["inputs"])
        cfg = load_config(preset, [f"data.batch_size={rows}", "model.dropout_rate=0.0", "parallel.strategy=dp",
                                   f"parallel.data={devices}", "model.attention_dropout_rate=0.0"])
        self.session = build_session(cfg)
        self.batch, self.rows = self.session.put_batch(batch), rows
        self.state = self.session.state
        self.run(1)  # compile

    def run(self, steps: int) -> float:
        """Rows per second over `steps` steps."""
        start = time.perf_counter()
        for _ in range(steps):
            self.state, metrics = self.session.train_step(self.state, self.batch)
        jax.block_until_ready(metrics)
        return steps * self.rows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", default=["bert_base", "gpt2_small", "t5_small"])
    parser.add_argument("--batches", type=int, default=20, help="loader batches timed per round")
    parser.add_argument("--step-rows", type=int, default=2, help="rows of the timed train step")
    parser.add_argument("--steps", type=int, default=2, help="train steps timed per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=4096, help="ids of the pipeline's sentencepiece tokenizer")
    parser.add_argument("--workers", type=int, nargs="*", default=[0], help="data.workers settings to time")
    args = parser.parse_args()

    devices = len(jax.devices())
    print(f"device: {jax.devices()[0].device_kind} x{devices}  (pipeline: 1 process, embedded corpus; "
          f"best of {args.rounds} interleaved rounds)")
    pipelines = "".join(f"{f'pipeline w={w} ex/s':>20}" for w in args.workers)
    print(f"{'preset':<11} {'objective':<16} {'batch':>9}{pipelines} {'step rows':>10} {'step ex/s':>10} "
          f"{'pipeline/step':>14}")
    for preset in args.presets:
        configs = [load_config(preset, [f"model.vocab_size={args.vocab}", f"data.workers={w}"]) for w in args.workers]
        pipeline: list[list[float]] = [[] for _ in configs]
        steps, timer = [], None
        for _ in range(args.rounds):
            for rates, cfg in zip(pipeline, configs, strict=True):
                rate, first = pipeline_rate(cfg, args.batches)
                rates.append(rate)
            if timer is None:
                timer = StepTimer(preset, {key: value[: args.step_rows] for key, value in first.items()}, devices)
            steps.append(timer.run(args.steps))
        best = [max(rates) for rates in pipeline]
        shape = "x".join(str(n) for n in itertools.islice(first["inputs"].shape, 2))
        rates = "".join(f"{rate:>20,.0f}" for rate in best)
        print(f"{preset:<11} {configs[0].data.objective:<16} {shape:>9}{rates} {args.step_rows:>10} "
              f"{max(steps):>10,.2f} {max(best) / max(steps):>13,.0f}x")


if __name__ == "__main__":
    main()
