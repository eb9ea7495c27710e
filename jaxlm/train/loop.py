"""The training loop: resume, step, log, evaluate, checkpoint, stop cleanly.

    result = train(load_config("bert_tiny"))

One step = one loader batch = one optimizer update. Step n + 1 is dispatched before step n's
metrics are read (`reporter.StepReporter`: progress bar, NaN policy, and every `log_every` steps
the window's mean metrics plus tokens/s, step time, TFLOP/s per device and MFU to the console,
`metrics.jsonl` and TensorBoard, one row per logged step however often the run resumes), so the
device never waits for the host. SIGTERM/SIGINT finish the current step, save a checkpoint and
return (`preemption.py`); a failed save, a dead peer process or too many skipped updates end the
run with one line (a JaxlmError).
"""

from __future__ import annotations

import dataclasses
import itertools
import pathlib
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
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.metrics import MetricsWriter
from jaxlm.train.params_io import init_params_from
from jaxlm.train.preemption import StopSignals
from jaxlm.train.reporter import StepReporter
from jaxlm.train.run_folder import start_tokenizer, write_run_files
from jaxlm.train.session import Session, build_session

ALREADY_COMPLETE = "already complete"
AGREE_EVERY = 10


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


def evaluate(session: Session, batches: Iterator[dict[str, np.ndarray]]) -> dict[str, float]:
    """Mean of the eval step's metrics over `batches` (an empty dict when there are none)."""
    totals: dict[str, float] = {}
    count = 0
    with parallel.use_mesh(session.mesh, session.rules, session.hooks):
        for batch in batches:
            metrics = session.eval_step(session.state["params"], session.put_batch(batch))
            metrics = jax.device_get(metrics)
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

    SIGTERM/SIGINT are held from here until the last checkpoint is committed: the run stops after
    the current step with a checkpoint and `stopped_by` names the signal (`preemption.exit_code`).
    stop_at: stop after this step with a checkpoint, as a preemption would (the run resumes
    from it when called again). Raises `NonFiniteLossError` under `train.nan_policy=stop` (or
    past `train.max_skipped_updates`), `CheckpointWriteError` when a save fails and
    `PeerLostError` when another process of the run dies.
    """
    with StopSignals() as signals:
        try:
            return _train(cfg, signals, stop_at, console, progress)
        except Exception as error:
            lost = parallel.peer_lost(error, "an operation shared with the other processes")
            if lost is None:
                raise
            raise lost from None


def _train(
    cfg: Config, signals: StopSignals, stop_at: int | None, console: Callable[[str], None], progress: bool
) -> TrainResult:
    workdir = writable_directory(workdir_for(cfg), "workdir", "pass --workdir (or workdir=) a writable directory")
    _check_eval_split(cfg)
    load_params = _init_from(cfg, console)
    tokenizer = start_tokenizer(cfg, workdir)
    checkpoints = Checkpointer(workdir / "checkpoints", cfg.checkpoint)
    session = build_session(cfg, load_params=load_params)
    restored = checkpoints.restore(session.abstract_state(), cfg)  # another model's checkpoints: refused here
    write_run_files(cfg, workdir, tokenizer)  # only now: a refused run leaves the workdir as it was
    batches = make_loader(cfg, "train", tokenizer=tokenizer)
    if restored is not None:
        session.state = restored.state
        batches.restore(restored.loader_state)
        console(f"resumed from {checkpoints.directory / str(restored.step)}")
    if session.step >= cfg.train.steps:
        batches.close()
        checkpoints.close()
        console(f"{workdir} is already complete: step {session.step} of train.steps={cfg.train.steps}; to train on, "
                f"raise train.steps (e.g. train.steps={2 * cfg.train.steps}), or start afresh in a new --workdir")
        return TrainResult(session.step, {}, {}, workdir, ALREADY_COMPLETE, session)
    writer = MetricsWriter(workdir, console=console, resume_step=session.step)
    eval_metrics: dict[str, float] = {}
    stopped_by = ""

    def save(metrics: dict | None = None) -> None:
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
        with parallel.use_mesh(session.mesh, session.rules, session.hooks):
            while step < total and not stopped_by:
                # Agreeing on a signal is an all-gather between processes, a host sync: one process
                # asks at every step, several every AGREE_EVERY steps (all at the same steps).
                if jax.process_count() == 1 or step % AGREE_EVERY == 0:
                    stopped_by = signals.agreed()
                    if stopped_by:
                        break
                checkpoints.check_for_errors()
                rows = next(batches)
                batch = session.put_batch(rows)
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
                if stop_at is not None and step >= stop_at:
                    stopped_by = f"stop_at={stop_at}"
            reporter.flush()
        bar.close()
        stopped_by = stopped_by or signals.agreed()  # a signal after the last step: save before the final eval
        if stopped_by:
            save()
            checkpoints.wait()
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
    """A `load_params(model)` hook for `train.init_from` (a model-only checkpoint or a run's workdir)."""
    if not cfg.train.init_from:
        return None
    directory = pathlib.Path(cfg.train.init_from).expanduser()
    if not directory.is_dir():
        raise JaxlmError(f"train.init_from: '{directory}' is not a directory; give a model-only checkpoint "
                         "or a run's workdir")

    def load(model: Any) -> None:
        report = init_params_from(directory, model)
        total = len(report.loaded) + len(report.fresh)
        fresh, unused = ", ".join(report.fresh) or "none", ", ".join(report.unused) or "none"
        console(f"initialised {len(report.loaded)} of {total} parameter arrays ({report.values:,} values) from "
                f"{directory}; fresh: {fresh}; unused: {unused}")

    return load
