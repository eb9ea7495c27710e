"""Compile the real train step on abstract inputs, read what the compiler says, and run it when asked.

The step is `jaxlm.train.step.make_train_step` under `jit_train_step` with the run's shardings,
exactly what `jaxlm train` runs; only its inputs differ: `jax.ShapeDtypeStruct`s carrying
NamedShardings, so `.lower(...).compile()` needs no weights and a 256-device mesh of host CPU
devices compiles a model this machine could never hold. From the executable:

    memory_analysis()   argument, output, alias, temporary and code bytes per device
    cost_analysis()     the compiler's FLOPs and bytes accessed per device (a `while` body — the
                        scanned layer stack — is counted once, not once per trip)
    as_text()           the partitioned HLO, whose collectives `jaxlm.lab.hlo` reads

Running (`execute`) builds the real session (`jaxlm.train.session.build_session`: weights born
sharded, AdamW state) and calls the same executable on random batches.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
from flax import nnx
from jax.sharding import Mesh

from jaxlm import parallel
from jaxlm.config import Config
from jaxlm.lab.batch import abstract_batch, random_batch
from jaxlm.lab.hlo import HloCollectives, read_collectives
from jaxlm.models import build_model
from jaxlm.objectives import get_objective
from jaxlm.train.checkpoint import abstract_state
from jaxlm.train.optimizer import make_optimizer
from jaxlm.train.session import _check_microbatches, build_session
from jaxlm.train.step import init_train_state, jit_train_step, make_train_step, split_model


@dataclasses.dataclass
class CompiledStep:
    """The train step of one config on one mesh, compiled, with what the compiler reports."""

    cfg: Config
    mesh: Mesh
    rules: parallel.Rules
    abstract_params: nnx.State
    executable: Any
    compile_seconds: float
    memory: dict[str, float]
    flops: float | None
    bytes_accessed: float | None
    collectives: HloCollectives
    hlo_text: str


def abstract_model(cfg: Config) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """(graphdef, abstract params, RNG state) of `cfg.model` without creating any weight.

    The parameters are shapes only (`nnx.eval_shape`); the dropout keys are real, since the train
    step closes over them: a jitted build returns only them, and XLA prunes the unused weights.
    """
    seed = cfg.train.seed
    graphdef, params, _ = split_model(nnx.eval_shape(lambda: build_model(cfg.model, seed=seed)))
    rngs = jax.jit(lambda: split_model(build_model(cfg.model, seed=seed))[2])()
    return graphdef, params, rngs


def memory_figures(executable: Any) -> dict[str, float]:
    """Per-device bytes from `memory_analysis()`; total = arguments + outputs − aliased + temporaries."""
    stats = executable.memory_analysis()
    figures = {
        "arguments": stats.argument_size_in_bytes, "outputs": stats.output_size_in_bytes,
        "aliased": stats.alias_size_in_bytes, "temporaries": stats.temp_size_in_bytes,
        "code": stats.generated_code_size_in_bytes,
    }
    figures["total"] = figures["arguments"] + figures["outputs"] - figures["aliased"] + figures["temporaries"]
    return {key: float(value) for key, value in figures.items()}


def _cost(executable: Any) -> dict[str, float]:
    cost = executable.cost_analysis()
    if isinstance(cost, list | tuple):  # older jax: one dict per program
        cost = cost[0] if cost else {}
    return cost or {}


def compile_step(cfg: Config) -> CompiledStep:
    """Lower and compile `cfg`'s train step for `cfg.parallel`'s mesh; ConfigError for a bad layout."""
    mesh = parallel.make_mesh(cfg.parallel)
    parallel.check_divisibility(cfg, mesh)
    _check_microbatches(cfg, mesh)
    rules = parallel.rules_for(cfg.parallel.strategy)
    graphdef, params, rngs = abstract_model(cfg)
    tx = make_optimizer(cfg.train)

    def init(params: nnx.State) -> dict:
        return init_train_state(params, tx)

    shapes = jax.eval_shape(init, params)
    shardings = parallel.state_shardings(shapes, mesh, rules)
    batch_sharding = parallel.batch_sharding(mesh)
    step = jit_train_step(
        make_train_step(graphdef, rngs, get_objective(cfg.data.objective), tx,
                        microbatches=cfg.train.microbatches, skip_nonfinite=cfg.train.nan_policy == "skip"),
        shardings, batch_sharding,
    )
    started = time.perf_counter()
    with parallel.use_mesh(mesh, rules):
        executable = step.lower(abstract_state(shapes, shardings), abstract_batch(cfg, batch_sharding)).compile()
    seconds = time.perf_counter() - started
    cost = _cost(executable)
    text = executable.as_text()
    return CompiledStep(
        cfg=cfg, mesh=mesh, rules=rules, abstract_params=params, executable=executable, compile_seconds=seconds,
        memory=memory_figures(executable), flops=cost.get("flops"), bytes_accessed=cost.get("bytes accessed"),
        collectives=read_collectives(text, mesh.size), hlo_text=text,
    )


@dataclasses.dataclass
class Execution:
    """A session ready to run a compiled step; `run(steps)` returns the mean seconds per step."""

    compiled: CompiledStep
    state: Any
    batch: dict[str, jax.Array]

    def run(self, steps: int, on_step: Callable[[], None] = lambda: None) -> float:
        with parallel.use_mesh(self.compiled.mesh, self.compiled.rules):
            started = time.perf_counter()
            for _ in range(steps):
                self.state, metrics = self.compiled.executable(self.state, self.batch)
                on_step()
            jax.block_until_ready(metrics)
        return (time.perf_counter() - started) / steps


def prepare_execution(compiled: CompiledStep, warmup: int = 1) -> Execution:
    """Real weights and optimizer state (`build_session`) and a random batch, warmed up `warmup` steps."""
    session = build_session(compiled.cfg)
    execution = Execution(compiled, session.state, session.put_batch(random_batch(compiled.cfg)))
    if warmup:
        execution.run(warmup)
    return execution
