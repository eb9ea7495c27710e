"""Metric sinks of a run: console (through tqdm), `workdir/metrics.jsonl` and TensorBoard.

Every logged step becomes one JSON object per line, e.g.
`{"step": 50, "split": "train", "loss": 6.1, "tokens_per_s": 9100.0, ...}`; eval rows carry
`"split": "eval"`. TensorBoard scalars are named `<split>/<metric>`. In a multi-process run
only process 0 writes (every process computes the same global metrics).

A run resumed from step S drops the rows after S (they belong to steps it trains again) and
writes no second row for a (split, step) already written, so the file holds one row per logged
step across any number of resumes; TensorBoard purges its events after S likewise.
"""

from __future__ import annotations

import json
import math
import os
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


def _keep_rows_through(path: pathlib.Path, step: int) -> tuple[set[tuple[str, int]], int]:
    """Rewrite the JSON lines file `path` without its rows after `step` (and any line a kill cut
    short); the (split, step) of the rows kept, and how many were dropped."""
    if not path.exists():
        return set(), 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            kept.append((row, line))
        else:
            dropped += 1
    if dropped:
        rewritten = path.with_name(path.name + ".tmp")
        rewritten.write_text("".join(f"{line}\n" for _, line in kept))
        os.replace(rewritten, path)
    return {(row.get("split", "train"), row["step"]) for row, _ in kept}, dropped


class MetricsWriter:
    """Writes each logged step to the console, metrics.jsonl and TensorBoard event files.
    `resume_step`: the step the run starts from (see the module docstring)."""

    def __init__(self, workdir: str | pathlib.Path, console: Callable[[str], None] = print, tensorboard: bool = True,
                 resume_step: int = 0):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.console = console
        self.primary = jax.process_index() == 0
        self.written: set[tuple[str, int]] = set()
        self.jsonl = None
        if self.primary:
            self.written, dropped = _keep_rows_through(self.workdir / "metrics.jsonl", resume_step)
            if dropped:
                console(f"metrics.jsonl: dropped {dropped} rows after step {resume_step}, which this run trains again")
            self.jsonl = (self.workdir / "metrics.jsonl").open("a")
        self.tensorboard = None
        if tensorboard and self.primary:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                console("tensorboardX is not installed: no TensorBoard events (pip install tensorboardX)")
            else:
                self.tensorboard = SummaryWriter(str(self.workdir / "tensorboard"), purge_step=resume_step + 1)

    def write(self, step: int, metrics: Mapping[str, object], split: str = "train") -> None:
        """Log `metrics` (scalars) of `split` at `step` to all sinks (process 0 only)."""
        if not self.primary:
            return
        if (split, step) in self.written:  # e.g. the final eval of a finished run started again
            self.console(f"{split} step {step}: {format_metrics(metrics)}")
            return
        self.written.add((split, step))
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
