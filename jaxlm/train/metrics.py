"""Metric sinks of a run: console (through tqdm), `workdir/metrics.jsonl` and TensorBoard.

Every logged step becomes one JSON object per line, e.g.
`{"step": 50, "split": "train", "loss": 6.1, "tokens_per_s": 9100.0, ...}`; eval rows carry
`"split": "eval"`. TensorBoard scalars are named `<split>/<metric>`. In a multi-process run
only process 0 writes (every process computes the same global metrics).
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Callable, Mapping

import jax
import numpy as np

# Shown on the console, in this order, when present.
CONSOLE_KEYS = ("loss", "mlm_accuracy", "nsp_accuracy", "token_accuracy", "accuracy", "perplexity",
                "grad_norm", "learning_rate", "tokens_per_s", "step_time_s", "tflops_per_device", "mfu")


def _plain(value: object) -> object:
    if isinstance(value, np.generic | np.ndarray):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def format_metrics(metrics: Mapping[str, object]) -> str:
    """'loss 6.102 · mlm_accuracy 0.081 · …' for the console."""
    parts = []
    for key in CONSOLE_KEYS:
        value = metrics.get(key)
        if value is None:
            continue
        if key == "tokens_per_s":
            parts.append(f"{value:,.0f} tok/s")
        elif key == "learning_rate":
            parts.append(f"lr {value:.2e}")
        elif key == "mfu":
            parts.append(f"mfu {100 * value:.1f}%")
        else:
            parts.append(f"{key} {value:.4g}")
    return " · ".join(parts)


class MetricsWriter:
    """Writes each logged step to the console, metrics.jsonl and TensorBoard event files."""

    def __init__(self, workdir: str | pathlib.Path, console: Callable[[str], None] = print, tensorboard: bool = True):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.console = console
        self.primary = jax.process_index() == 0
        self.jsonl = (self.workdir / "metrics.jsonl").open("a") if self.primary else None
        self.tensorboard = None
        if tensorboard and self.primary:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                console("tensorboardX is not installed: no TensorBoard events (pip install tensorboardX)")
            else:
                self.tensorboard = SummaryWriter(str(self.workdir / "tensorboard"))

    def write(self, step: int, metrics: Mapping[str, object], split: str = "train") -> None:
        """Log `metrics` (scalars) of `split` at `step` to all sinks (process 0 only)."""
        if not self.primary:
            return
        row = {"step": step, "split": split, **{k: _plain(v) for k, v in metrics.items()}}
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()
        if self.tensorboard is not None:
            for key, value in row.items():
                if key not in ("step", "split") and isinstance(value, int | float):
                    self.tensorboard.add_scalar(f"{split}/{key}", value, step)
            self.tensorboard.flush()
        self.console(f"{split} step {step}: {format_metrics(metrics)}")

    def close(self) -> None:
        if self.jsonl is not None:
            self.jsonl.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
