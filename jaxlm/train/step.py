"""Train and eval steps: pure functions over the split model state, jitted once.

The NNX model is split once into `graphdef` (static structure), `params` (the `nnx.Param`
state, float32) and `rngs` (the dropout streams' keys and counters). The train state is a plain
dict `{'params', 'opt_state', 'step'}`; it is what gets donated, sharded and checkpointed.

Dropout is a pure function of (seed, step, microbatch): every dropout stream's key is the
model's initial key for that layer folded with the global microbatch index, so no RNG state
needs saving and a resumed run draws exactly the masks an uninterrupted one would.

Gradient accumulation is an explicit `lax.scan` over `microbatches` slices of the batch. Each
loss term is normalised by the whole batch's weight W (`Objective.weights`, known from the batch
alone) and the metrics are (sum, weight) pairs, so the summed gradients and pairs of any number of
microbatches equal one step on the whole batch, however the weights fall (BERT's masked
positions, padding of packed rows). Microbatch j takes rows j, j + n, j + 2n, … (strided): every
device's block of rows holds its share of every microbatch, so no data moves between devices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxlm.objectives import Objective

TrainState = dict[str, Any]
Batch = Mapping[str, jax.Array]
Metrics = dict[str, jax.Array]


def split_model(model: nnx.Module) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """model → (graphdef, params, rngs): parameters apart from everything else (RNG streams)."""
    graphdef, params, rngs = nnx.split(model, nnx.Param, ...)
    return graphdef, params, rngs


def init_train_state(params: nnx.State, tx: optax.GradientTransformation) -> TrainState:
    """{'params', 'opt_state', 'step' (int32 scalar, updates applied so far)}."""
    return {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32)}


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _fold_in(keys: jax.Array, index: jax.Array) -> jax.Array:
    """fold_in applied to every key of a key array of any shape (scanned layers stack a
    [layers] axis of keys)."""
    flat = keys.reshape(-1)
    return jax.vmap(jax.random.fold_in, in_axes=(0, None))(flat, index).reshape(keys.shape)


def rngs_for(rngs: nnx.State, index: jax.Array) -> nnx.State:
    """The dropout streams for global microbatch `index`: each key folded with it, counters reset."""
    return jax.tree.map(lambda x: _fold_in(x, index) if _is_key(x) else jnp.zeros_like(x), rngs)


def strided_microbatches(batch: Batch, n: int) -> dict[str, jax.Array]:
    """[rows, ...] arrays → [n, rows / n, ...]; microbatch j holds rows j, j + n, j + 2n, …"""
    def split(x: jax.Array) -> jax.Array:
        if x.shape[0] % n:
            raise ValueError(f"batch of {x.shape[0]} rows does not split into {n} microbatches")
        return jnp.swapaxes(x.reshape(x.shape[0] // n, n, *x.shape[1:]), 0, 1)
    return {k: split(v) for k, v in batch.items()}


def make_train_step(
    graphdef: nnx.GraphDef,
    rngs: nnx.State,
    objective: Objective,
    tx: optax.GradientTransformation,
    *,
    microbatches: int = 1,
    skip_nonfinite: bool = False,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """A pure `step(state, batch) -> (state, metrics)`.

    objective: an `Objective` (forward pass, loss terms, metric pairs). metrics are its finalized
    metrics plus 'grad_norm' (before clipping) and 'finite' (1.0 when loss and gradients are
    finite). With `skip_nonfinite` a non-finite step leaves params and optimizer state
    untouched (the step counter still advances, so the data moves on).
    """

    def micro_loss(params: nnx.State, micro: Batch, index: jax.Array, weights: Mapping) -> tuple[jax.Array, Any]:
        model = nnx.merge(graphdef, params, rngs_for(rngs, index))
        return objective.loss(model, micro, deterministic=False, weights=weights)

    grad_fn = jax.grad(micro_loss, has_aux=True)

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        params, first = state["params"], state["step"] * microbatches
        weights = objective.weights(batch)
        if microbatches == 1:
            grads, pairs = grad_fn(params, batch, first, weights)
        else:
            def accumulate(totals: tuple, xs: tuple[Batch, jax.Array]) -> tuple[tuple, None]:
                micro, index = xs
                grads, pairs = grad_fn(params, micro, index, weights)
                return jax.tree.map(jnp.add, totals, (grads, pairs)), None

            micro = strided_microbatches(batch, microbatches)
            zeros = jax.eval_shape(grad_fn, params, jax.tree.map(lambda x: x[0], micro), first, weights)
            zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), zeros)
            indices = first + jnp.arange(microbatches)
            (grads, pairs), _ = jax.lax.scan(accumulate, zeros, (micro, indices))
        metrics = objective.finalize(pairs)
        grad_norm = optax.global_norm(grads)
        finite = jnp.isfinite(metrics["loss"]) & jnp.isfinite(grad_norm)
        updates, opt_state = tx.update(grads, state["opt_state"], params)
        new_params = optax.apply_updates(params, updates)
        if skip_nonfinite:
            keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731
            new_params = jax.tree.map(keep, new_params, params)
            opt_state = jax.tree.map(keep, opt_state, state["opt_state"])
        metrics = {**metrics, "grad_norm": grad_norm, "finite": finite.astype(jnp.float32)}
        return {"params": new_params, "opt_state": opt_state, "step": state["step"] + 1}, metrics

    return step


def make_eval_step(
    graphdef: nnx.GraphDef, rngs: nnx.State, objective: Objective
) -> Callable[[nnx.State, Batch], Metrics]:
    """A pure `eval_step(params, batch) -> metrics` (deterministic: no dropout)."""

    def eval_step(params: nnx.State, batch: Batch) -> Metrics:
        _, pairs = objective.loss(nnx.merge(graphdef, params, rngs), batch, deterministic=True)
        return objective.finalize(pairs)

    return eval_step


def jit_train_step(
    step: Callable, state_shardings: Any = None, batch_sharding: Any = None
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """jax.jit with the train state donated; with shardings (a mesh is configured) the state
    keeps its layout step to step and the batch is expected sharded over (data, fsdp)."""
    if state_shardings is None:
        return jax.jit(step, donate_argnums=(0,))
    return jax.jit(
        step, in_shardings=(state_shardings, batch_sharding), out_shardings=(state_shardings, None),
        donate_argnums=(0,),
    )


def jit_eval_step(step: Callable, param_shardings: Any = None, batch_sharding: Any = None) -> Callable:
    """jax.jit of an eval step, with the parameters' and batch's shardings when given."""
    if param_shardings is None:
        return jax.jit(step)
    return jax.jit(step, in_shardings=(param_shardings, batch_sharding))
