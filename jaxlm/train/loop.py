"""The training loop: resume, step, log, evaluate, checkpoint, stop cleanly.

    result = train(load_config("bert_tiny"))

One step = one loader batch = one optimizer update. Each step's loss is read back (it drives
the progress bar and the NaN policy); every `log_every` steps the window's mean metrics plus
tokens/s, step time, TFLOP/s per device and MFU go to the console, `metrics.jsonl` and
TensorBoard. SIGTERM/SIGINT finish the current step, save a checkpoint and return normally.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import pathlib
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
import tqdm

from jaxlm import parallel
from jaxlm.config import Config, ConfigError
from jaxlm.data import open_records
from jaxlm.errors import JaxlmError
from jaxlm.objectives import make_loader
from jaxlm.paths import writable_directory
from jaxlm.train import flops
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.init_from import load_matching_params
from jaxlm.train.metrics import MetricsWriter
from jaxlm.train.optimizer import learning_rate_schedule
from jaxlm.train.run_folder import start_tokenizer, write_run_files
from jaxlm.train.session import Session, build_session

ALREADY_COMPLETE = "already complete"


class NonFiniteLossError(JaxlmError):
    """The loss (or gradient norm) became NaN/Inf and `train.nan_policy=stop`."""


@dataclasses.dataclass
class TrainResult:
    """What a run did: final step, every step's training loss, the last eval, why it stopped
    early ("" when it ran to train.steps; ALREADY_COMPLETE when there was nothing to train)."""

    step: int
    losses: dict[int, float]
    eval_metrics: dict[str, float]
    workdir: pathlib.Path
    stopped_by: str = ""
    session: Session | None = dataclasses.field(default=None, repr=False)


def workdir_for(cfg: Config) -> pathlib.Path:
    """`cfg.workdir`, or `runs/<config name>` by default."""
    return pathlib.Path(cfg.workdir or pathlib.Path("runs") / cfg.name)


class StopSignals:
    """Context manager: SIGTERM/SIGINT set `.received` (the signal name) instead of killing the
    process, so the loop can save and exit between steps; previous handlers come back on exit."""

    def __init__(self) -> None:
        self.received = ""
        self._previous: dict[int, Any] = {}

    def handle(self, signum: int, frame: Any = None) -> None:
        self.received = signal.Signals(signum).name

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread: signals stay as they are
                self._previous[sig] = signal.signal(sig, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def evaluate(session: Session, batches: Iterator[dict[str, np.ndarray]]) -> dict[str, float]:
    """Mean of the eval step's metrics over `batches` (an empty dict when there are none)."""
    totals: dict[str, float] = {}
    count = 0
    with parallel.use_mesh(session.mesh, session.rules, session.hooks):
        for batch in batches:
            metrics = jax.device_get(session.eval_step(session.state["params"], session.put_batch(batch)))
            for key, value in metrics.items():
                totals[key] = totals.get(key, 0.0) + float(value)
            count += 1
    return {key: value / count for key, value in totals.items()} if count else {}


def evaluate_split(session: Session, cfg: Config, split: str, batches: int, tokenizer: Any = None) -> dict[str, float]:
    """`evaluate` over the first `batches` batches of `split` (always the same ones)."""
    loader = make_loader(cfg, split, tokenizer=tokenizer)
    try:
        return evaluate(session, itertools.islice(loader, batches))
    finally:
        loader.close()


def _window_metrics(cfg: Config, rows: list[dict], seconds: float, step_flops: float, tokens: int) -> dict:
    means = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key != "finite"}
    steps = len(rows)
    step_time = seconds / steps
    per_device = step_flops / step_time / jax.device_count()
    peak = flops.peak_flops(jax.devices()[0])
    means.update(
        step_time_s=step_time, tokens_per_s=tokens / step_time, tflops_per_device=per_device / 1e12,
        learning_rate=float(learning_rate_schedule(cfg.train)(rows[-1]["_step"] - 1)),
    )
    if peak:
        means["mfu"] = per_device / peak
    means.pop("_step")
    return means


def _check_finite(cfg: Config, step: int, loss: float, finite: bool, console: Callable[[str], None]) -> None:
    if finite:
        return
    if cfg.train.nan_policy == "stop":
        raise NonFiniteLossError(
            f"loss is {loss} (or the gradient norm is not finite) at step {step}; lower train.learning_rate, "
            "or set train.nan_policy=skip to skip such updates"
        )
    console(f"step {step}: non-finite loss {loss}; update skipped (train.nan_policy=skip)")


def train(
    cfg: Config,
    *,
    stop_at: int | None = None,
    console: Callable[[str], None] = tqdm.tqdm.write,
    progress: bool = True,
) -> TrainResult:
    """Train `cfg` in `workdir_for(cfg)`, resuming from its newest good checkpoint.

    stop_at: stop after this step with a checkpoint, as a preemption would (the run resumes
    from it when called again). Raises `NonFiniteLossError` under `train.nan_policy=stop`.
    """
    workdir = writable_directory(workdir_for(cfg), "workdir", "pass --workdir (or workdir=) a writable directory")
    _check_eval_split(cfg)
    tokenizer = start_tokenizer(cfg, workdir)
    write_run_files(cfg, workdir, tokenizer)
    checkpoints = Checkpointer(workdir / "checkpoints", cfg.checkpoint)
    session = build_session(cfg, load_params=_init_from(cfg, console))
    batches = make_loader(cfg, "train", tokenizer=tokenizer)
    restored = checkpoints.restore(session.abstract_state())
    if restored is not None:
        step, session.state, data_state, _ = restored
        batches.restore(data_state)
        console(f"resumed from {checkpoints.directory / str(step)}")
    if session.step >= cfg.train.steps:
        batches.close()
        checkpoints.close()
        console(f"{workdir} is already complete: step {session.step} of train.steps={cfg.train.steps}; to train on, "
                f"raise train.steps (e.g. train.steps={2 * cfg.train.steps}), or start afresh in a new --workdir")
        return TrainResult(session.step, {}, {}, workdir, ALREADY_COMPLETE, session)
    writer = MetricsWriter(workdir, console=console)
    losses: dict[int, float] = {}
    eval_metrics: dict[str, float] = {}
    stopped_by = ""

    def save(metrics: dict | None = None) -> None:
        if session.step not in checkpoints.steps():
            checkpoints.save(session.step, session.state, batches.state(), cfg.to_dict(), metrics)

    def run_eval() -> dict[str, float]:
        metrics = evaluate_split(session, cfg, "validation", cfg.train.eval_batches, tokenizer)
        if metrics:
            writer.write(session.step, metrics, split="eval")
        return metrics

    first, total = session.step, cfg.train.steps
    bar = tqdm.tqdm(total=total, initial=first, desc=cfg.name, disable=not progress, dynamic_ncols=True)
    window: list[dict] = []
    window_start = time.perf_counter()
    step_flops = tokens = 0.0
    try:
        with StopSignals() as signals, parallel.use_mesh(session.mesh, session.rules, session.hooks):
            while session.step < total and not stopped_by:
                batch = next(batches)
                if not step_flops:
                    step_flops, tokens = flops.train_flops(cfg.model, batch), flops.batch_tokens(batch)
                session.state, metrics = session.train_step(session.state, session.put_batch(batch))
                metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
                step = session.step
                losses[step] = metrics["loss"]
                _check_finite(cfg, step, metrics["loss"], metrics["finite"] == 1.0, console)
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}")
                if step == first + 1:  # the first step compiled: time from here on
                    window_start = time.perf_counter()
                else:
                    window.append({**metrics, "_step": step})
                if window and (step % cfg.train.log_every == 0 or step == total):
                    now = time.perf_counter()
                    writer.write(step, _window_metrics(cfg, window, now - window_start, step_flops, tokens))
                    window, window_start = [], now
                paused = time.perf_counter()  # eval and checkpoint time stays out of the step time
                if cfg.train.eval_every and step % cfg.train.eval_every == 0 and step < total:
                    eval_metrics = run_eval()
                    save(eval_metrics)
                elif cfg.checkpoint.every and step % cfg.checkpoint.every == 0:
                    save()
                window_start += time.perf_counter() - paused
                if signals.received:
                    stopped_by = signals.received
                elif stop_at is not None and step >= stop_at:
                    stopped_by = f"stop_at={stop_at}"
        bar.close()
        if stopped_by:
            save()
            console(f"stopped by {stopped_by} after step {session.step}; checkpoint saved in {checkpoints.directory}")
        else:
            eval_metrics = run_eval() if cfg.train.eval_batches else {}
            save(eval_metrics)
    finally:
        bar.close()
        batches.close()
        checkpoints.close()
        writer.close()
    return TrainResult(session.step, losses, eval_metrics, workdir, stopped_by, session)


def _check_eval_split(cfg: Config) -> None:
    """Fail now, not after all the training, when the final eval would find no validation text."""
    if not cfg.train.eval_batches:
        return
    if cfg.data.source != "tfds" and cfg.data.validation_fraction == 0:
        raise ConfigError(
            f"data.validation_fraction: 0 holds out no text, but train.eval_batches={cfg.train.eval_batches} "
            "evaluates on it; set data.validation_fraction=0.05, or train.eval_batches=0 to train without eval"
        )
    open_records(cfg.data, "validation")  # raises when, e.g., a TFDS dataset has no split to hold out


def _init_from(cfg: Config, console: Callable[[str], None]) -> Callable | None:
    """A `load_params(model)` hook for `train.init_from` (a model-only checkpoint directory)."""
    if not cfg.train.init_from:
        return None
    directory = pathlib.Path(cfg.train.init_from).expanduser()
    if not directory.is_dir():
        raise JaxlmError(f"train.init_from: '{directory}' is not a directory; give a model-only checkpoint")

    def load(model: Any) -> None:
        fresh, dropped = load_matching_params(directory, model)
        console(f"initialised from {directory}; fresh: {', '.join(fresh) or 'none'}; "
                f"unused from the checkpoint: {', '.join(dropped) or 'none'}")

    return load
