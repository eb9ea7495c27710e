"""Train and eval steps: pure functions over the split model state, jitted once.

The NNX model is split once into `graphdef` (static structure), `params` (the `nnx.Param`
state, float32) and `rngs` (the dropout streams' keys and counters). The train state is a plain
dict `{'params', 'opt_state', 'step'}`; it is what gets donated, sharded and checkpointed.

Dropout is a pure function of (seed, step, microbatch): every dropout stream's key is the
model's initial key for that layer folded with the global microbatch index, so no RNG state
needs saving and a resumed run draws exactly the masks an uninterrupted one would.

Gradient accumulation is an explicit `lax.scan` over `microbatches` equal slices of the batch:
the mean of their gradients (and metrics) feeds one optimizer update. With equal-weight losses
(a mean over the same number of tokens per slice) this equals one step on the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

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


def _split_microbatches(batch: Batch, n: int) -> dict[str, jax.Array]:
    def split(x: jax.Array) -> jax.Array:
        if x.shape[0] % n:
            raise ValueError(f"batch of {x.shape[0]} rows does not split into {n} microbatches")
        return x.reshape(n, x.shape[0] // n, *x.shape[1:])
    return {k: split(v) for k, v in batch.items()}


def make_train_step(
    graphdef: nnx.GraphDef,
    rngs: nnx.State,
    loss_fn: Callable[..., tuple[jax.Array, Metrics]],
    tx: optax.GradientTransformation,
    *,
    microbatches: int = 1,
    skip_nonfinite: bool = False,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """A pure `step(state, batch) -> (state, metrics)`.

    loss_fn(model, batch, deterministic=...) -> (loss, metrics): an objective's `loss`.
    metrics gain 'grad_norm' (before clipping) and 'finite' (1.0 when loss and gradients are
    finite). With `skip_nonfinite` a non-finite step leaves params and optimizer
    state untouched (the step counter still advances, so the data moves on).
    """

    def micro_loss(params: nnx.State, micro: Batch, index: jax.Array) -> tuple[jax.Array, Metrics]:
        model = nnx.merge(graphdef, params, rngs_for(rngs, index))
        return loss_fn(model, micro, deterministic=False)

    grad_fn = jax.value_and_grad(micro_loss, has_aux=True)

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        params, first = state["params"], state["step"] * microbatches
        if microbatches == 1:
            (_, metrics), grads = grad_fn(params, batch, first)
        else:
            def accumulate(total: nnx.State, xs: tuple[Batch, jax.Array]) -> tuple[nnx.State, Metrics]:
                micro, index = xs
                (_, metrics), grads = grad_fn(params, micro, index)
                return jax.tree.map(jnp.add, total, grads), metrics

            zeros = jax.tree.map(jnp.zeros_like, params)
            indices = first + jnp.arange(microbatches)
            grads, stacked = jax.lax.scan(accumulate, zeros, (_split_microbatches(batch, microbatches), indices))
            grads = jax.tree.map(lambda g: g / microbatches, grads)
            metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), stacked)
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
    graphdef: nnx.GraphDef, rngs: nnx.State, loss_fn: Callable[..., tuple[jax.Array, Metrics]]
) -> Callable[[nnx.State, Batch], Metrics]:
    """A pure `eval_step(params, batch) -> metrics` (deterministic: no dropout)."""

    def eval_step(params: nnx.State, batch: Batch) -> Metrics:
        _, metrics = loss_fn(nnx.merge(graphdef, params, rngs), batch, deterministic=True)
        return metrics

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
