"""The train and checkpoint sections: optimizer, schedule, loop cadence and Orbax settings."""

from __future__ import annotations

import dataclasses
from typing import Literal

from jaxlm.config.schema import require

Optimizer = Literal["adamw", "adafactor"]
Schedule = Literal["linear", "cosine", "constant", "rsqrt"]
NanPolicy = Literal["stop", "skip"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimizer, learning-rate schedule and loop cadence.

    optimizer: 'adamw' (b1, b2, eps, weight_decay), or 'adafactor' as T5 trains (factored second
        moments, decay exponent 0.8, updates clipped to RMS 1, steps relative to each parameter's
        scale; b1 > 0 adds momentum; b2 and eps are AdamW's and unused; no weight decay).
    learning_rate: peak rate, reached after `warmup_steps` (at most `steps`) of linear warmup from 0, then decayed
        ('linear' or 'cosine') to `learning_rate * end_lr_ratio` at `steps`, or held ('constant');
        'rsqrt' (T5) holds it for `warmup_steps` (no ramp), then decays as learning_rate · sqrt(warmup_steps / step).
    weight_decay: decoupled AdamW decay; never applied to norms and biases.
    clip_norm: clip the global gradient norm to this (0 turns clipping off).
    microbatches: split each batch of `data.batch_size` rows into this many (strided) microbatches whose
        gradients add up, exactly, to the whole batch's before the one optimizer update (gradient accumulation).
    log_every / eval_every: cadence in steps (eval_every 0: only the final eval); eval_batches: batches
        per eval.
    nan_policy: on a NaN/Inf loss, 'stop' the run naming the step, or 'skip' that update.
    max_skipped_updates: under 'skip', stop the run when more updates than this are skipped in a row.
    init_from: a model-only checkpoint directory (`jaxlm convert`, `params_io.save_params`) or a run's
        workdir (its newest good checkpoint) whose parameters replace the fresh ones before step 1
        (fine-tuning): matched by name and shape, across scanned and unrolled layer layouts. The
        tokenizer it keeps, if any, tokenizes the data.
    examples: fill-mask / generation examples printed after training (0: none).
    """

    steps: int = 100
    optimizer: Optimizer = "adamw"
    learning_rate: float = 1e-3
    warmup_steps: int = 10
    schedule: Schedule = "linear"
    end_lr_ratio: float = 0.0
    weight_decay: float = 0.01
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-6
    clip_norm: float = 1.0
    microbatches: int = 1
    log_every: int = 10
    eval_every: int = 0
    eval_batches: int = 4
    nan_policy: NanPolicy = "stop"
    max_skipped_updates: int = 10
    init_from: str = ""
    examples: int = 3
    seed: int = 0

    def validate(self, prefix: str = "train") -> None:
        require(self.steps > 0, f"{prefix}.steps", "must be positive")
        require(self.learning_rate > 0, f"{prefix}.learning_rate", "must be positive")
        require(self.warmup_steps >= 0, f"{prefix}.warmup_steps", "must be >= 0")
        require(0.0 <= self.end_lr_ratio <= 1.0, f"{prefix}.end_lr_ratio", "must be in [0, 1]")
        require(self.weight_decay >= 0, f"{prefix}.weight_decay", "must be >= 0")
        require(self.optimizer == "adamw" or self.weight_decay == 0, f"{prefix}.weight_decay",
                "adafactor applies no weight decay here (T5 uses none); set train.weight_decay=0")
        for name in ("b1", "b2"):
            require(0.0 <= getattr(self, name) < 1.0, f"{prefix}.{name}", "must be in [0, 1)")
        require(self.eps > 0, f"{prefix}.eps", "must be positive")
        require(self.clip_norm >= 0, f"{prefix}.clip_norm", "must be >= 0 (0 turns clipping off)")
        require(self.microbatches > 0, f"{prefix}.microbatches", "must be positive (1: no accumulation)")
        require(self.log_every > 0, f"{prefix}.log_every", "must be positive")
        require(self.eval_every >= 0, f"{prefix}.eval_every", "must be >= 0 (0: eval only at the end)")
        require(self.eval_batches >= 0, f"{prefix}.eval_batches", "must be >= 0 (0: no eval)")
        require(self.max_skipped_updates >= 0, f"{prefix}.max_skipped_updates", "must be >= 0")
        require(self.examples >= 0, f"{prefix}.examples", "must be >= 0")


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    """Orbax checkpoints under `workdir/checkpoints/<step>/`.

    every: save every N steps (0: only at the end); a save also happens after each periodic eval
    (`train.eval_every`), at the end and on SIGTERM/SIGINT. Every preset sets one: without it a
    killed run (kill -9, a lost machine) starts again from step 0.
    keep: the newest K are kept, plus the best one by eval `metric` (lower is better with mode
    'min'); metric '' keeps only the newest K.
    """

    every: int = 0
    keep: int = 3
    async_save: bool = True
    metric: str = "loss"
    mode: Literal["min", "max"] = "min"

    def validate(self, prefix: str = "checkpoint") -> None:
        require(self.every >= 0, f"{prefix}.every", "must be >= 0 (0 saves only at the end)")
        require(self.keep > 0, f"{prefix}.keep", "must be positive")
