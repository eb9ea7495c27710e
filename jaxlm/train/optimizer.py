"""AdamW with a weight-decay mask (or T5's Adafactor), warmup + decay schedule and global-norm
clipping (Optax).

    tx = make_optimizer(cfg.train)
    opt_state = tx.init(params)            # params: the nnx.State of the model's Params

Gradient accumulation is not an Optax wrapper here: the train step scans over microbatches and
adds up their gradients (each normalised by the whole batch's weights) before one `tx.update` (see
`jaxlm.train.step`), so a step is always one optimizer update and one loader batch.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxlm.config import TrainConfig


def learning_rate_schedule(cfg: TrainConfig) -> optax.Schedule:
    """Linear warmup from 0 to `learning_rate` over `warmup_steps`, then linear or cosine decay to
    `learning_rate * end_lr_ratio` at `steps` (or a constant rate). 'rsqrt' is T5's inverse square
    root: learning_rate · sqrt(k / max(step, k)) with k = warmup_steps (held, not ramped, until k)."""
    peak, end = cfg.learning_rate, cfg.learning_rate * cfg.end_lr_ratio
    if cfg.schedule == "rsqrt":
        hold = max(cfg.warmup_steps, 1)
        return lambda step: peak * jnp.sqrt(hold / jnp.maximum(step, hold))
    warmup_steps = min(cfg.warmup_steps, cfg.steps)
    decay_steps = max(cfg.steps - warmup_steps, 1)
    if cfg.schedule == "cosine":
        decay = optax.cosine_decay_schedule(peak, decay_steps, alpha=cfg.end_lr_ratio)
    elif cfg.schedule == "linear":
        decay = optax.linear_schedule(peak, end, decay_steps)
    else:
        decay = optax.constant_schedule(peak)
    if warmup_steps == 0:
        return decay
    warmup = optax.linear_schedule(0.0, peak, warmup_steps)
    return optax.join_schedules([warmup, decay], [warmup_steps])


def _path_names(path: tuple) -> list[str]:
    return [str(getattr(key, "key", getattr(key, "name", key))) for key in path]


def decays(path: tuple, param: nnx.Variable) -> bool:
    """Whether weight decay applies to a parameter, judged by its path and logical axes.

    Decayed: matrices (kernels, embedding tables, relative-bias tables). Not decayed: anything
    inside a norm module (scales and offsets), any parameter named `bias` or `*_bias` (dense
    biases, BERT's MLM output bias), and any vector. The rank ignores a leading stacked 'layers'
    axis (scanned layers), so a scanned norm scale [layers, d] still counts as a vector.
    """
    names = _path_names(path)
    if any("norm" in name for name in names[:-1]):
        return False
    leaf = names[-1]
    if leaf == "bias" or leaf.endswith("_bias"):
        return False
    axes = param.get_metadata().get("out_sharding") or ()
    rank = sum(axis != "layers" for axis in axes) if axes else param.ndim
    return rank >= 2


def weight_decay_mask(params: nnx.State) -> nnx.State:
    """A tree shaped like `params` with True where weight decay applies (see `decays`)."""
    return jax.tree_util.tree_map_with_path(
        lambda path, p: p.replace(decays(path, p)), params, is_leaf=lambda x: isinstance(x, nnx.Variable)
    )


def on_values(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    """`tx` applied to the arrays inside the `nnx.Variable`s of params and updates. Adafactor's
    factored statistics (a row and a column vector per matrix) must not inherit their parameter's
    logical axes, as Adam's moments do; kept as plain arrays they are replicated (they are small)."""
    def values(tree: Any) -> Any:
        return jax.tree.map(lambda v: v.get_value(), tree, is_leaf=lambda x: isinstance(x, nnx.Variable))

    def init(params: Any) -> optax.OptState:
        return tx.init(values(params))

    def update(updates: Any, state: optax.OptState, params: Any = None) -> tuple[Any, optax.OptState]:
        new, state = tx.update(values(updates), state, None if params is None else values(params))
        return jax.tree.map(lambda v, x: v.replace(x), updates, new,
                            is_leaf=lambda x: isinstance(x, nnx.Variable)), state

    return optax.GradientTransformation(init, update)


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """clip_by_global_norm(clip_norm) → AdamW(schedule, b1, b2, eps, weight_decay masked), or
    Adafactor(schedule, momentum b1) with optax's defaults, which are T5's."""
    if cfg.optimizer == "adafactor":
        inner = on_values(optax.adafactor(learning_rate_schedule(cfg), momentum=cfg.b1 or None))
    else:
        inner = optax.adamw(
            learning_rate_schedule(cfg), b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
            weight_decay=cfg.weight_decay, mask=weight_decay_mask,
        )
    if cfg.clip_norm > 0:
        return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), inner)
    return inner
