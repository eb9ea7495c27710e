"""Everything a run holds on the devices: mesh, model split, optimizer, sharded train state, jitted
steps. Built once by `build_session`, shared by training (`loop.py`) and `jaxlm eval`.

    session = build_session(cfg)
    state, metrics = session.train_step(session.state, session.put_batch(batch))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from jaxlm import parallel
from jaxlm.config import Config, ConfigError
from jaxlm.nn.hooks import ExecutionHooks
from jaxlm.objectives import get_objective
from jaxlm.train.checkpoint import abstract_state
from jaxlm.train.optimizer import make_optimizer
from jaxlm.train.step import (
    TrainState,
    init_train_state,
    jit_eval_step,
    jit_train_step,
    make_eval_step,
    make_train_step,
    split_model,
)


@dataclasses.dataclass
class Session:
    """The device-side half of a run. `state` is replaced after every step (it is donated)."""

    cfg: Config
    mesh: Mesh
    rules: parallel.Rules
    hooks: ExecutionHooks
    graphdef: nnx.GraphDef
    rngs: nnx.State
    tx: optax.GradientTransformation
    state: TrainState
    shardings: Any
    train_step: Callable
    eval_step: Callable

    def put_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
        """A loader batch (numpy, this process's rows) as global arrays sharded over (data, fsdp)."""
        return parallel.shard_batch(batch, self.mesh)

    def abstract_state(self) -> Any:
        """The train state's shapes with the current mesh's shardings (the Orbax restore target)."""
        return abstract_state(jax.eval_shape(lambda: self.state), self.shardings)

    def model(self) -> nnx.Module:
        """The model with the current parameters (a fresh object; for inference and examples)."""
        return nnx.merge(self.graphdef, self.state["params"], self.rngs)

    @property
    def step(self) -> int:
        return int(self.state["step"])


def _check_microbatches(cfg: Config, mesh: Mesh) -> None:
    n, rows = cfg.train.microbatches, cfg.data.batch_size
    sizes = parallel.mesh_sizes(mesh)
    shards = sizes["data"] * sizes["fsdp"]
    if rows % n or (rows // n) % shards:
        raise ConfigError(
            f"train.microbatches={n}: data.batch_size={rows} must split into {n} microbatches whose rows "
            f"divide over data*fsdp={shards}; pick a divisor of {rows // shards}"
        )


def _check_trainable_dtype(cfg: Config) -> None:
    if cfg.model.dtype == "float16":
        raise ConfigError(
            "model.dtype=float16: training in float16 needs loss scaling, which jaxlm does not do; "
            "use model.dtype=bfloat16"
        )


def parallel_layout(
    cfg: Config, devices: Sequence[jax.Device] | None = None
) -> tuple[Mesh, parallel.Rules, ExecutionHooks]:
    """(mesh, rule table, execution hooks) of `cfg.parallel` over `devices` (default: all), after
    every layout check (ConfigError)."""
    mesh = parallel.make_mesh(cfg.parallel, devices)
    parallel.check_divisibility(cfg, mesh)
    _check_microbatches(cfg, mesh)
    rules = parallel.rules_for(cfg.parallel.strategy, sequence_parallel=cfg.parallel.sequence_parallel)
    return mesh, rules, parallel.execution_hooks(cfg.parallel, mesh)


def train_step_for(
    cfg: Config, graphdef: nnx.GraphDef, rngs: nnx.State, tx: optax.GradientTransformation, shardings: Any, mesh: Mesh
) -> Callable:
    """The jitted train step of `cfg` (objective, microbatches, NaN policy) with the state's shardings;
    trace it inside `parallel.use_mesh(mesh, rules, hooks)`."""
    step = make_train_step(graphdef, rngs, get_objective(cfg.data.objective), tx,
                           microbatches=cfg.train.microbatches, skip_nonfinite=cfg.train.nan_policy == "skip")
    return jit_train_step(step, shardings, parallel.batch_sharding(mesh))


def build_session(cfg: Config, *, load_params: Callable[[nnx.Module], None] | None = None) -> Session:
    """Mesh from `cfg.parallel`, the model born sharded (then `load_params(model)` if given, e.g.
    a fine-tuning start), AdamW state with the parameters' shardings, and the jitted steps."""
    _check_trainable_dtype(cfg)
    mesh, rules, hooks = parallel_layout(cfg)
    model = parallel.create_sharded_model(cfg.model, mesh, rules, seed=cfg.train.seed)
    if load_params is not None:
        load_params(model)
    graphdef, params, rngs = split_model(model)
    tx = make_optimizer(cfg.train)

    def init(params: nnx.State) -> TrainState:
        return init_train_state(params, tx)

    shardings = parallel.state_shardings(jax.eval_shape(init, params), mesh, rules)
    with parallel.use_mesh(mesh, rules):
        state = jax.jit(init, out_shardings=shardings)(params)
    objective = get_objective(cfg.data.objective)
    batch_sharding = parallel.batch_sharding(mesh)
    train_step = train_step_for(cfg, graphdef, rngs, tx, shardings, mesh)
    eval_step = jit_eval_step(make_eval_step(graphdef, rngs, objective), shardings["params"], batch_sharding)
    return Session(cfg, mesh, rules, hooks, graphdef, rngs, tx, state, shardings, train_step, eval_step)
