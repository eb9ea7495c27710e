"""What the host does with each step's metrics, one step late so the device never waits for it.

The loop dispatches step n + 1 and only then reads step n's metrics (`StepReporter.push`): the
read waits for step n while step n + 1 is already queued, so logging, the progress bar and
fetching the next batch overlap the device's work. Per reported step: its loss is kept, the NaN
policy applies (naming that step), the progress bar moves; every `log_every` steps the window's
mean metrics go to the metric sinks with

    step_time_s       = window wall time / steps            (the first, compiling step excluded)
    tokens_per_s      = global batch tokens / step_time_s
    tflops_per_device = global step FLOPs / step_time_s / devices of all processes
    mfu               = tflops_per_device / the device's peak (when known)

FLOPs and tokens are read from the *global* batch's shapes, so every process reports the same
figures however many processes feed it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import numpy as np

from jaxlm.config import Config
from jaxlm.errors import JaxlmError
from jaxlm.train import flops
from jaxlm.train.metrics import MetricsWriter
from jaxlm.train.optimizer import learning_rate_schedule


class NonFiniteLossError(JaxlmError):
    """The loss (or gradient norm) became NaN/Inf and `train.nan_policy=stop`."""


class StepReporter:
    """Reports each step after the next one was dispatched; `flush` reports the queued one now."""

    def __init__(self, cfg: Config, writer: MetricsWriter, console: Callable[[str], None], bar: Any, first: int):
        self.cfg, self.writer, self.console, self.bar = cfg, writer, console, bar
        self.first = first
        self.losses: dict[int, float] = {}
        self.skipped = 0  # updates skipped in a row (nan_policy=skip)
        self.pending: tuple[int, Mapping[str, jax.Array]] | None = None
        self.window: list[dict[str, float]] = []
        self.window_start = time.perf_counter()
        self.step_flops = self.tokens = 0.0

    def push(self, step: int, metrics: Mapping[str, jax.Array], batch: Mapping[str, jax.Array]) -> None:
        """Queue `step`'s metrics (device arrays, not waited for) and report the step before it.
        `batch`: the step's global batch, whose shapes give the FLOPs and tokens of a step."""
        if not self.step_flops:
            self.step_flops, self.tokens = flops.train_flops(self.cfg.model, batch), flops.batch_tokens(batch)
        self.flush()
        self.pending = (step, metrics)

    def flush(self) -> None:
        """Report the queued step (waiting for it), if any."""
        if self.pending is None:
            return
        step, metrics = self.pending
        self.pending = None
        values = {key: float(value) for key, value in jax.device_get(metrics).items()}
        self._report(step, values)

    def _report(self, step: int, values: dict[str, float]) -> None:
        self.losses[step] = values["loss"]
        self._check_finite(step, values)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{values['loss']:.4f}")
        # Every step is logged; the first after a start compiled, so it is kept out of the timing.
        self.window.append({**values, "_step": step, "_timed": step > self.first + 1})
        if step == self.first + 1:
            self.window_start = time.perf_counter()
        if step % self.cfg.train.log_every == 0 or step == self.cfg.train.steps:
            now = time.perf_counter()
            self.writer.write(step, self._window_metrics(now - self.window_start))
            self.window, self.window_start = [], now

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside (eval, checkpoints) stays out of the step time."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.window_start += time.perf_counter() - started

    def _check_finite(self, step: int, values: dict[str, float]) -> None:
        """Counts updates skipped in a row; raises under `nan_policy=stop` or past `max_skipped_updates`."""
        if values["finite"] == 1.0:
            self.skipped = 0
            return
        if self.cfg.train.nan_policy == "stop":
            raise NonFiniteLossError(
                f"loss is {values['loss']} (or the gradient norm is not finite) at step {step}; lower "
                "train.learning_rate, or set train.nan_policy=skip to skip such updates"
            )
        self.skipped += 1
        if self.skipped > self.cfg.train.max_skipped_updates:
            raise NonFiniteLossError(
                f"{self.skipped} updates in a row skipped for a non-finite loss (the last at step {step}); lower "
                "train.learning_rate, or raise train.max_skipped_updates"
            )
        self.console(f"step {step}: non-finite loss {values['loss']}; update skipped (train.nan_policy=skip)")

    def _window_metrics(self, seconds: float) -> dict[str, float]:
        """Mean metrics of the window's steps, and the speed of those timed (all but a start's first)."""
        rows = self.window
        skip = ("finite", "_step", "_timed")
        means = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key not in skip}
        means["learning_rate"] = float(learning_rate_schedule(self.cfg.train)(rows[-1]["_step"] - 1))
        timed = sum(r["_timed"] for r in rows)
        if not timed:
            return means
        step_time = seconds / timed
        per_device = self.step_flops / step_time / jax.device_count()
        means.update(step_time_s=step_time, tokens_per_s=self.tokens / step_time, tflops_per_device=per_device / 1e12)
        peak = flops.peak_flops(jax.devices()[0])
        if peak:
            means["mfu"] = per_device / peak
        return means
