"""Run checkpoints with Orbax: `workdir/checkpoints/<step>/` holds four items

    state/     params + optimizer state + step (sharded arrays)
    manifest/  JSON: the step and every array's path, shape, dtype and checksum (manifest.py)
    config/    JSON: the run's resolved config
    loader/    process_<i>-of-<n>.json: each process's own loader position

Saves are asynchronous; the newest `keep` are kept, plus the best by an eval metric. Orbax writes
a step into a temporary directory and renames it on commit, so an interrupted save never shows
up as a step; a save that fails (disk full, read-only disk) raises `CheckpointWriteError` (one
line) at the first step after it and leaves no temporary directory behind.

`restore` takes the newest committed step and, before reading any array, compares its config's
model section and its arrays' paths and shapes with this run: another model is a `JaxlmError`
naming the keys, and nothing is touched. It then reads the arrays onto this run's mesh (an
*abstract* state of `jax.ShapeDtypeStruct`s carrying the current shardings, see `abstract_state`)
and recomputes the checksums and the step. A step that cannot be read or does not match its
manifest is corrupt: a warning names it and the cause, and the next older step is tried. Only a
writable Checkpointer (`jaxlm train`) on the primary process renames a corrupt step to
`unreadable-<step>`; a read-only one (eval, generate, ...) creates, renames and deletes nothing,
and skips a step that a live run deletes while it reads. All processes agree on each step's
outcome, so they restore the same one.
"""

from __future__ import annotations

import errno
import logging
import os
import pathlib
import re
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from jaxlm.config import CheckpointConfig, Config, config_from_dict
from jaxlm.errors import JaxlmError
from jaxlm.parallel import all_processes, peer_lost
from jaxlm.train import manifest as manifests
from jaxlm.train.process_item import LoaderRestore, LoaderSave

ITEMS = ("state", "manifest", "config", "loader")


class CheckpointWriteError(JaxlmError):
    """A checkpoint could not be written (disk full, read-only or vanished workdir)."""


class Restored(NamedTuple):
    step: int
    state: Any
    loader_state: dict
    config: dict


def abstract_state(state_shapes: Any, shardings: Any = None) -> Any:
    """ShapeDtypeStructs of `state_shapes` (from `jax.eval_shape`), each with its sharding from
    the matching tree `shardings` (default: the single device of a one-device run)."""
    if shardings is None:
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
                            state_shapes)
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state_shapes, shardings)


def _from_orbax(record: logging.LogRecord) -> bool:
    """Whether a log record is Orbax's own or reports an exception raised inside Orbax."""
    if "orbax" in record.pathname:
        return True
    if record.exc_info and "orbax-checkpoint-tmp" in str(record.exc_info[1]):
        return True  # a TensorStore write into an Orbax temporary directory: no Orbax frame in its traceback
    trace = record.exc_info[2] if record.exc_info else None
    return any("orbax" in frame.filename for frame in traceback.extract_tb(trace))


class _QuietOrbax(logging.Filter):
    """Orbax logs a traceback for every failed save and read (and asyncio one for each write of
    a failed save it abandons); the Checkpointer reports what matters as one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING or not _from_orbax(record)


def _quiet_orbax() -> None:
    """Installed once per process, for good: the abandoned writes of a failed save end after the
    Checkpointer is closed, some only at exit."""
    if getattr(sys.unraisablehook, "quiets_orbax", False):
        return
    for name in ("absl", "asyncio"):
        logging.getLogger(name).addFilter(_QuietOrbax())
    # the array writes a failed save abandons are dropped unawaited, at exit
    warnings.filterwarnings("ignore", message="coroutine 'async_serialize", category=RuntimeWarning)
    previous = sys.unraisablehook

    def unraisable(report: Any) -> None:
        # TensorStore completes the abandoned writes into the event loop Orbax already closed
        closed_loop = isinstance(report.exc_value, RuntimeError) and str(report.exc_value) == "Event loop is closed"
        # a failed restore leaves the reads of the other arrays unawaited; each raises when collected
        code = getattr(report.object, "cr_code", None)
        abandoned_read = code is not None and f"{os.sep}orbax{os.sep}" in code.co_filename
        if not (closed_loop or abandoned_read):
            previous(report)

    unraisable.quiets_orbax = True
    sys.unraisablehook = unraisable


def cause(error: BaseException) -> str:
    """The root of an exception chain as one short line: the OS's words for a failed system call
    ('No space left on device', also when TensorStore reports it), else 'Type: first line'."""
    root = _root(error)
    text = str(root).strip()
    code = _errno(root)
    if code is not None:
        return os.strerror(code)
    return f"{type(root).__name__}: {text.splitlines()[0][:200]}" if text else type(root).__name__


# Failures of the machine rather than of the data: the step is fine, reading it again later will work.
_ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EIO, errno.ESTALE,
                       errno.ETIMEDOUT, errno.EAGAIN}


def _root(error: BaseException) -> BaseException:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return error


def _errno(error: BaseException) -> int | None:
    """The OS error code of `error`, also when TensorStore reports one in its message."""
    if isinstance(getattr(error, "errno", None), int):
        return error.errno
    found = re.search(r"os_error_code='(\d+)'|\[Errno (\d+)\]", str(error))
    return int(next(filter(None, found.groups()))) if found else None


def _environment_failure(error: BaseException) -> bool:
    """True when a failed read says nothing about the checkpoint (permissions, open files, memory)."""
    root = _root(error)
    return isinstance(root, MemoryError) or _errno(root) in _ENVIRONMENT_ERRNOS


class Checkpointer:
    """A thin layer over `ocp.CheckpointManager` for the run layout above.

    writable=False opens an existing `checkpoints/` folder for reading only (it must exist)."""

    def __init__(self, directory: str | pathlib.Path, cfg: CheckpointConfig, *, writable: bool = True):
        self.directory = pathlib.Path(directory).absolute()
        self.cfg, self.writable = cfg, writable
        self.last_step: int | None = None  # the step last saved or restored: saving it again is a no-op
        self._pending = -1  # the step of the newest save started
        self._failed_step: int | None = None  # a save that failed: its temporary directory goes at close
        keep: list[policies.PreservationPolicy] = [policies.LatestN(n=cfg.keep)]
        if cfg.metric:
            keep.append(policies.BestN(
                get_metric_fn=lambda metrics: metrics[cfg.metric], reverse=cfg.mode == "min", n=1,
                keep_checkpoints_without_metrics=False,
            ))
        options = ocp.CheckpointManagerOptions(
            enable_async_checkpointing=cfg.async_save and writable,
            preservation_policy=policies.AnyPreservationPolicy(keep) if writable else None,
            create=writable, read_only=not writable, cleanup_tmp_directories=writable,
        )
        _quiet_orbax()
        try:
            self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)
        except OSError as error:
            raise CheckpointWriteError(f"cannot open {self.directory} for checkpoints: {cause(error)}") from None

    def steps(self) -> list[int]:
        """Committed steps, oldest first."""
        return sorted(self.manager.all_steps())

    def save(self, step: int, state: Any, loader_state: dict, config: dict, metrics: dict | None = None) -> None:
        """Start an (async) save of `step` (a no-op when it was just saved or restored); `metrics`
        (eval metrics) rank it for keep-best. Every process calls this with its own loader state."""
        if step == self.last_step:
            return
        self.wait()  # Orbax waits for the previous save anyway; its failure is then reported as its own
        best = {self.cfg.metric: float(metrics[self.cfg.metric])} if metrics and self.cfg.metric in metrics else None
        args = ocp.args.Composite(
            state=ocp.args.PyTreeSave(state),
            manifest=ocp.args.JsonSave(manifests.make_manifest(step, state)),
            config=ocp.args.JsonSave(config),
            loader=LoaderSave(loader_state),
        )
        self._pending = step
        try:
            self.manager.save(step, args=args, metrics=best, force=True)
        except Exception as error:  # a failed write of any kind ends the run with one line
            self._failed(step, error)
        self.last_step = step

    def check_for_errors(self) -> None:
        """Raise `CheckpointWriteError` if the last asynchronous save failed."""
        try:
            self.manager.check_for_errors()
        except Exception as error:
            self._failed(self._pending, error)

    def wait(self) -> None:
        """Block until pending async saves are committed."""
        try:
            self.manager.wait_until_finished()
        except Exception as error:
            self._failed(self._pending, error)

    def _failed(self, step: int, error: Exception) -> None:
        lost = peer_lost(error, f"the checkpoint save of step {step}")
        if lost is not None:
            raise lost from None
        self._failed_step = step
        self._remove_temporary(step)
        good = [s for s in self.steps() if s != step]
        kept = f"step {good[-1]} is the newest complete checkpoint" if good else "no complete checkpoint yet"
        raise CheckpointWriteError(
            f"checkpoint step {step} could not be written to {self.directory} ({cause(error)}); "
            f"free space or make it writable, then resume: {kept}"
        ) from None

    def restore(self, abstract: Any, run_config: Config) -> Restored | None:
        """The newest good step read onto `abstract`'s shardings, or None when there is none.
        Raises JaxlmError when the checkpoints are of another model than `run_config`'s."""
        return self._newest_good(lambda step: self._restore_step(step, abstract, run_config))

    def restore_params(self) -> tuple[int, dict] | None:
        """(step, params) of the newest good step: the `params` arrays alone, as numpy arrays in a
        nested dict with string keys (what `train.init_from=WORKDIR` starts from)."""
        return self._newest_good(self._params_of)

    def _newest_good(self, attempt: Callable[[int], Any]) -> Any:
        """`attempt(step)` on the newest step, then older ones while it returns a cause (a string)."""
        tried: set[int] = set()
        while True:
            self.manager.reload()
            remaining = [step for step in reversed(self.steps()) if step not in tried]
            if not remaining:
                return None
            step = remaining[0]
            tried.add(step)
            restored = attempt(step)
            if not isinstance(restored, str):
                self.last_step = step
                return restored
            if not self.writable and not (self.directory / str(step)).exists():  # a live run deleted it meanwhile
                continue
            self._set_aside(step, restored)

    def _read(self, step: int, **items: ocp.args.CheckpointArgs) -> dict | str:
        """The items of `step`, or the cause when they cannot be read (agreed by all processes)."""
        try:
            restored, problem = self.manager.restore(step, args=ocp.args.Composite(**items)), ""
        except Exception as error:
            lost = peer_lost(error, f"the checkpoint restore of step {step}")
            if lost is not None:
                raise lost from None
            if _environment_failure(error):  # the step may be fine: never set it aside for this
                raise JaxlmError(f"checkpoint step {step} in {self.directory} could not be read ({cause(error)}); "
                                 "nothing was moved: fix that and run again") from None
            restored, problem = None, cause(error)  # unreadable or inconsistent data: the step is unusable
        if not all_processes(not problem):
            return problem or "unreadable on another process"
        return restored

    def _restore_step(self, step: int, abstract: Any, run_config: Config) -> Restored | str:
        """The step's contents, or why it is corrupt. Raises JaxlmError for another model's step."""
        small = self._read(step, manifest=ocp.args.JsonRestore(), config=ocp.args.JsonRestore())
        if isinstance(small, str):
            return small
        manifest, saved_config = dict(small["manifest"]), dict(small["config"])
        self._check_same_model(step, manifest, saved_config, abstract, run_config)
        arrays = self._read(step, state=ocp.args.PyTreeRestore(
            abstract, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract)), loader=LoaderRestore())
        if isinstance(arrays, str):
            return arrays
        problem = manifests.verify(step, arrays["state"], manifest)
        return problem or Restored(step, arrays["state"], dict(arrays["loader"]), saved_config)

    def _params_of(self, step: int) -> tuple[int, dict] | str:
        small = self._read(step, manifest=ocp.args.JsonRestore())
        if isinstance(small, str):
            return small
        manifest = dict(small["manifest"])
        target: dict = {}
        for path, entry in manifest["arrays"].items():
            if path.startswith("params."):
                *parents, name = path.split(".")
                node = target
                for key in parents:
                    node = node.setdefault(key, {})
                node[name] = jax.ShapeDtypeStruct(tuple(entry["shape"]), entry["dtype"])
        as_numpy = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), target)
        arrays = self._read(step, state=ocp.args.PyTreeRestore(target, restore_args=as_numpy, partial_restore=True))
        if isinstance(arrays, str):
            return arrays
        problem = manifests.verify(step, arrays["state"], manifest)
        return problem or (step, arrays["state"]["params"])

    def _check_same_model(self, step: int, manifest: dict, saved: dict, abstract: Any, run_config: Config) -> None:
        differences = manifests.model_differences(_normalised_model(saved), run_config.to_dict()["model"])
        what = "model"
        if not differences:
            differences, what = manifests.layout_differences(manifest, abstract), "arrays"
        if differences:
            shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
            raise JaxlmError(
                f"checkpoint step {step} in {self.directory} is of another {what} ({shown}); keep the saved "
                f"settings, use another workdir, or start a new run from its weights with "
                f"train.init_from={self.directory.parent}"
            )

    def _set_aside(self, step: int, problem: str) -> None:
        """Warn about a corrupt step; a writable primary process renames it out of the way."""
        aside = ""
        if self.writable and jax.process_index() == 0:
            target = self.directory / f"unreadable-{step}"
            suffix = 0
            while target.exists():
                suffix += 1
                target = self.directory / f"unreadable-{step}.{suffix}"
            (self.directory / str(step)).rename(target)
            aside = f"; moved to {target.name}"
        all_processes(True)  # the rename is done before any process lists the steps again
        warnings.warn(f"checkpoint step {step} in {self.directory} is corrupt ({problem}){aside}; "
                      "falling back to the previous one", stacklevel=3)

    def read_config(self) -> dict | None:
        """The resolved config saved with the newest step whose config can be read."""
        for step in reversed(self.steps()):
            config = self._read(step, config=ocp.args.JsonRestore())
            if not isinstance(config, str):
                return dict(config["config"])
        return None

    def _remove_temporary(self, step: int, settle_s: float = 0.0) -> None:
        """Delete what a failed save of `step` left (process 0 only), again and again for
        `settle_s` seconds: its abandoned writes go on in TensorStore's threads and recreate files."""
        if jax.process_index() != 0:
            return
        deadline = time.monotonic() + settle_s
        while True:
            for temporary in self.directory.glob(f"{step}.orbax-checkpoint-tmp*"):
                shutil.rmtree(temporary, ignore_errors=True)
            if time.monotonic() >= deadline:
                return
            time.sleep(0.2)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.manager.close()
            if self._failed_step is not None:  # its abandoned writes may have gone on after the first removal
                self._remove_temporary(self._failed_step, settle_s=2.0)


def _normalised_model(saved: dict) -> dict:
    """The saved model section with today's defaults filled in (as saved when it no longer validates)."""
    try:
        return config_from_dict(saved).to_dict()["model"]
    except JaxlmError:
        return saved.get("model", {})
