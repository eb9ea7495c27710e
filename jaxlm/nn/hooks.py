"""Execution hooks: how a caller swaps in distributed versions of self-attention and of the
loop over stacked layers, without `nn` knowing about meshes.

`jaxlm.parallel` builds the hooks (ring attention over a `context` axis, a GPipe pipeline over
a `stage` axis) and installs them with `use_hooks` around tracing; the modules read
`current_hooks()`. With no hooks installed (the default) every module runs its plain code.
Hooks apply only to full-sequence passes: incremental decoding with a KV cache never uses them.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol

import jax

# run(layers, x, rows, common) -> x: the plain scan over a stacked-layers module (any depth).
RunLayers = Callable[[Any, jax.Array, tuple, tuple], jax.Array]


class ContextHook(Protocol):
    """Attention over sequences split along `length` across devices.

    The stack calls `enter` on every [b, l, ...] input before its first layer and `leave` on its
    output: between the two, tokens may sit in an order of the hook's choosing (causal load
    balancing), which only `attend` needs to know.
    """

    def enter(self, x: jax.Array, *, causal: bool) -> jax.Array: ...

    def leave(self, x: jax.Array, *, causal: bool) -> jax.Array: ...

    def attend(
        self, q: jax.Array, k: jax.Array, v: jax.Array, segments: jax.Array, *, causal: bool, scale: float
    ) -> jax.Array:
        """Self-attention of q, k, v [b, l, h, d] with token `segments` [b, l] → [b, l, h, d]."""
        ...


class PipelineHook(Protocol):
    """Runs a stacked-layers module over x [b, l, d]: `rows` are per-row inputs (leading batch
    axis, or None) split with x, `common` inputs go to every call unchanged."""

    def __call__(self, run: RunLayers, layers: Any, x: jax.Array, rows: tuple, common: tuple) -> jax.Array: ...


class ExecutionHooks(NamedTuple):
    context: ContextHook | None = None
    pipeline: PipelineHook | None = None


NO_HOOKS = ExecutionHooks()

_HOOKS: contextvars.ContextVar[ExecutionHooks] = contextvars.ContextVar("jaxlm_execution_hooks", default=NO_HOOKS)


@contextlib.contextmanager
def use_hooks(hooks: ExecutionHooks) -> Iterator[None]:
    """Install `hooks` for the models traced inside the block."""
    token = _HOOKS.set(hooks)
    try:
        yield
    finally:
        _HOOKS.reset(token)


def current_hooks() -> ExecutionHooks:
    """The installed hooks (all None outside `use_hooks`)."""
    return _HOOKS.get()
