"""Compile the real train step (or its gradient alone) on abstract inputs, read what the compiler
says, and run it when asked.

The step is `jaxlm.train.step.make_train_step` under `jit_train_step` with the run's shardings,
exactly what `jaxlm train` runs; only its inputs differ: `jax.ShapeDtypeStruct`s carrying
NamedShardings, so `.lower(...).compile()` needs no weights and a 256-device mesh of host CPU
devices compiles a model this machine could never hold. `compile_gradient` compiles ∇ of the same
objective's loss with respect to the parameters and nothing else: parameters are its arguments
and gradients its outputs, so its temporaries are the activations the forward pass keeps for the
backward pass (and the backward's own scratch), which `jaxlm.lab.memory.activation_bytes`
predicts. From the executable:

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
from collections.abc import Callable, Sequence
from typing import Any

import jax
from flax import nnx
from jax.sharding import Mesh

from jaxlm import parallel
from jaxlm.config import Config
from jaxlm.lab.batch import abstract_batch, random_batch
from jaxlm.lab.hlo import HloCollectives, read_collectives
from jaxlm.lab.layout import Layout, make_layout
from jaxlm.models import build_model
from jaxlm.nn.hooks import ExecutionHooks
from jaxlm.objectives import get_objective
from jaxlm.train.checkpoint import abstract_state
from jaxlm.train.optimizer import make_optimizer
from jaxlm.train.session import build_session, parallel_layout, train_step_for
from jaxlm.train.step import init_train_state, split_model


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

    def layout(self) -> Layout:
        """The rule table applied to this config on this mesh: the input of every prediction."""
        return make_layout(self.cfg, self.abstract_params, self.rules, parallel.mesh_sizes(self.mesh),
                           jax.default_backend())


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


def cost_figures(executable: Any) -> dict[str, float]:
    """`cost_analysis()` as one dict ('flops', 'bytes accessed', ...; empty when the backend has none)."""
    cost = executable.cost_analysis()
    if isinstance(cost, list | tuple):  # older jax: one dict per program
        cost = cost[0] if cost else {}
    return cost or {}


def compile_program(cfg: Config, program: Callable, args: tuple, mesh: Mesh, rules: parallel.Rules,
                    hooks: ExecutionHooks, abstract_params: nnx.State) -> CompiledStep:
    """Lower and compile the jitted `program` on `args` (abstract or real) under the mesh, rules and
    hooks, and read its memory, cost and collectives."""
    started = time.perf_counter()
    with parallel.use_mesh(mesh, rules, hooks):
        executable = program.lower(*args).compile()
    seconds = time.perf_counter() - started
    cost = cost_figures(executable)
    text = executable.as_text()
    return CompiledStep(
        cfg=cfg, mesh=mesh, rules=rules, abstract_params=abstract_params, executable=executable,
        compile_seconds=seconds, memory=memory_figures(executable), flops=cost.get("flops"),
        bytes_accessed=cost.get("bytes accessed"), collectives=read_collectives(text, mesh.size), hlo_text=text,
    )


def compile_step(cfg: Config) -> CompiledStep:
    """Lower and compile `cfg`'s train step for `cfg.parallel`'s mesh; ConfigError for a bad layout."""
    mesh, rules, hooks = parallel_layout(cfg)
    graphdef, params, rngs = abstract_model(cfg)
    tx = make_optimizer(cfg.train)

    def init(params: nnx.State) -> dict:
        return init_train_state(params, tx)

    shapes = jax.eval_shape(init, params)
    shardings = parallel.state_shardings(shapes, mesh, rules)
    step = train_step_for(cfg, graphdef, rngs, tx, shardings, mesh)
    args = (abstract_state(shapes, shardings), abstract_batch(cfg, parallel.batch_sharding(mesh)))
    return compile_program(cfg, step, args, mesh, rules, hooks, params)


def compile_gradient(cfg: Config, devices: Sequence[jax.Device] | None = None) -> CompiledStep:
    """Lower and compile ∇ of `cfg`'s objective loss with respect to the parameters (no optimizer,
    no dropout: see the module docstring) for `cfg.parallel`'s mesh over `devices` (default: all);
    ConfigError for a bad layout."""
    mesh, rules, hooks = parallel_layout(cfg, devices)
    graphdef, params, rngs = abstract_model(cfg)
    objective = get_objective(cfg.data.objective)

    def loss(params: nnx.State, batch: dict) -> jax.Array:
        return objective.loss(nnx.merge(graphdef, params, rngs), batch, deterministic=True)[0]

    shardings = parallel.state_shardings(params, mesh, rules)
    sharded = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), params, shardings)
    args = (sharded, abstract_batch(cfg, parallel.batch_sharding(mesh)))
    return compile_program(cfg, jax.jit(jax.grad(loss)), args, mesh, rules, hooks, params)


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
