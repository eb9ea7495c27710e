"""Run checkpoints with Orbax: `workdir/checkpoints/<step>/{state, data, config}`.

`state` is the train state (params + optimizer state + step), `data` the loader state (JSON),
`config` the resolved config (JSON). Saves are asynchronous; the newest `keep` are kept, plus the
best by an eval metric. Orbax writes each step into a temporary directory and renames it on
commit, so an interrupted save never shows up as a step; a checkpoint that is listed but
cannot be read (truncated, corrupt) is skipped with a warning and the previous good one is used.

Restore takes an *abstract* state whose leaves are `jax.ShapeDtypeStruct`s carrying the current
mesh's shardings (see `abstract_state`), so a checkpoint restores onto any mesh shape.
"""

from __future__ import annotations

import pathlib
import warnings
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from jaxlm.config import CheckpointConfig
from jaxlm.errors import JaxlmError


def abstract_state(state_shapes: Any, shardings: Any = None) -> Any:
    """ShapeDtypeStructs of `state_shapes` (from `jax.eval_shape`), each with its sharding from
    the matching tree `shardings` (default: the single device of a one-device run)."""
    if shardings is None:
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
                            state_shapes)
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state_shapes, shardings)


class Checkpointer:
    """A thin layer over `ocp.CheckpointManager` for the run layout above."""

    def __init__(self, directory: str | pathlib.Path, cfg: CheckpointConfig):
        self.directory = pathlib.Path(directory).absolute()
        self.cfg = cfg
        keep: list[policies.PreservationPolicy] = [policies.LatestN(n=cfg.keep)]
        if cfg.metric:
            keep.append(policies.BestN(
                get_metric_fn=lambda metrics: metrics[cfg.metric], reverse=cfg.mode == "min", n=1,
                keep_checkpoints_without_metrics=False,
            ))
        options = ocp.CheckpointManagerOptions(
            enable_async_checkpointing=cfg.async_save,
            preservation_policy=policies.AnyPreservationPolicy(keep),
            create=True,
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "data", "config"))

    def steps(self) -> list[int]:
        """Committed steps, oldest first."""
        return sorted(self.manager.all_steps())

    def save(self, step: int, state: Any, data_state: dict, config: dict, metrics: dict | None = None) -> None:
        """Start an (async) save of `step`; `metrics` (eval metrics) rank it for keep-best."""
        best = {self.cfg.metric: float(metrics[self.cfg.metric])} if metrics and self.cfg.metric in metrics else None
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=ocp.args.JsonSave(data_state),
                config=ocp.args.JsonSave(config),
            ),
            metrics=best,
            force=True,
        )

    def restore(self, abstract: Any, step: int | None = None) -> tuple[int, Any, dict, dict] | None:
        """(step, state, data_state, config) from `step`, or from the newest readable checkpoint
        (older ones are tried when the newest fails, with a warning). None when there is none."""
        candidates = [step] if step is not None else list(reversed(self.steps()))
        for candidate in candidates:
            try:
                restored = self.manager.restore(
                    candidate,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract),
                        data=ocp.args.JsonRestore(),
                        config=ocp.args.JsonRestore(),
                    ),
                )
            except Exception as error:  # any unreadable checkpoint is skipped
                if step is not None:
                    raise JaxlmError(f"checkpoint {self.directory / str(step)} cannot be read: {error}") from None
                aside = self._set_aside(candidate)
                warnings.warn(
                    f"checkpoint step {candidate} in {self.directory} is unreadable ({type(error).__name__}); "
                    f"moved to {aside.name} and falling back to the previous one", stacklevel=2,
                )
                continue
            return candidate, restored["state"], dict(restored["data"]), dict(restored["config"])
        return None

    def _set_aside(self, step: int) -> pathlib.Path:
        """Rename an unreadable step directory so it is neither restored nor overwritten by a save."""
        aside = self.directory / f"unreadable-{step}"
        suffix = 0
        while aside.exists():
            suffix += 1
            aside = self.directory / f"unreadable-{step}.{suffix}"
        (self.directory / str(step)).rename(aside)
        self.manager.reload()
        return aside

    def read_config(self, step: int | None = None) -> dict | None:
        """The resolved config saved with `step` (default: the newest readable one)."""
        for candidate in [step] if step is not None else list(reversed(self.steps())):
            try:
                restored = self.manager.restore(candidate, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
                return dict(restored["config"])
            except Exception:  # fall back to an older one
                continue
        return None

    def wait(self) -> None:
        """Block until pending async saves are committed."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
