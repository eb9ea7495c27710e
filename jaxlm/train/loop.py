"""The training loop: resume, step, log, evaluate, checkpoint, stop cleanly.

    result = train(load_config("bert_tiny"))

One step = one loader batch = one optimizer update. Step n + 1 is dispatched before step n's
metrics are read (`reporter.StepReporter`: progress bar, NaN policy, and every `log_every` steps
the window's mean metrics plus tokens/s, step time, TFLOP/s per device and MFU to the console,
`metrics.jsonl` and TensorBoard), so the device never waits for the host. SIGTERM/SIGINT finish
the current step, save a checkpoint and return normally.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import pathlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
import tqdm

from jaxlm import parallel
from jaxlm.config import Config
from jaxlm.data import load_tokenizer, make_loader
from jaxlm.errors import JaxlmError
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.init_from import load_matching_params
from jaxlm.train.metrics import MetricsWriter
from jaxlm.train.reporter import StepReporter
from jaxlm.train.session import Session, build_session


@dataclasses.dataclass
class TrainResult:
    """What a run did: final step, every step's training loss, the last eval, why it stopped."""

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
    with parallel.use_mesh(session.mesh, session.rules):
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
    workdir = workdir_for(cfg)
    workdir.mkdir(parents=True, exist_ok=True)
    checkpoints = Checkpointer(workdir / "checkpoints", cfg.checkpoint)
    session = build_session(cfg, load_params=_init_from(cfg, console))
    tokenizer = load_tokenizer(cfg)
    batches = make_loader(cfg, "train", tokenizer=tokenizer)
    restored = checkpoints.restore(session.abstract_state())
    if restored is not None:
        step, session.state, data_state, _ = restored
        batches.restore(data_state)
        console(f"resumed from {checkpoints.directory / str(step)}")
    writer = MetricsWriter(workdir, console=console)
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
    reporter = StepReporter(cfg, writer, console, bar, first)
    step = first  # counted on the host: reading the device's counter would wait for the step
    try:
        with StopSignals() as signals, parallel.use_mesh(session.mesh, session.rules):
            while step < total and not stopped_by:
                batch = session.put_batch(next(batches))
                session.state, metrics = session.train_step(session.state, batch)
                step += 1
                reporter.push(step, metrics, batch)  # reports step - 1 while this step runs
                evaluating = cfg.train.eval_every and step % cfg.train.eval_every == 0 and step < total
                if evaluating or (cfg.checkpoint.every and step % cfg.checkpoint.every == 0):
                    reporter.flush()  # eval and checkpoint wait for this step anyway
                    with reporter.paused():
                        if evaluating:
                            eval_metrics = run_eval()
                        save(eval_metrics if evaluating else None)
                if signals.received:
                    stopped_by = signals.received
                elif stop_at is not None and step >= stop_at:
                    stopped_by = f"stop_at={stop_at}"
            reporter.flush()
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
    return TrainResult(session.step, reporter.losses, eval_metrics, workdir, stopped_by, session)


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
