"""Activation sharding constraints by logical names, active only inside `use_mesh`.

The model calls `constrain(x, ('batch', 'length', 'embed'))` where it wants activations pinned
(block boundaries); outside a mesh and rule table it returns x unchanged, so the same model
runs on one device without any parallel setup. `use_mesh` also installs the execution hooks
(context-parallel attention, the pipeline) that `mesh.execution_hooks` builds for the mesh.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import jax
from flax import nnx
from flax.core import spmd as flax_spmd
from jax.sharding import Mesh, NamedSharding

from jaxlm.nn.hooks import NO_HOOKS, ExecutionHooks, use_hooks
from jaxlm.parallel.rules import Rules, logical_to_spec


@contextlib.contextmanager
def use_mesh(mesh: Mesh, rules: Rules, hooks: ExecutionHooks = NO_HOOKS) -> Iterator[None]:
    """Make `mesh` the current mesh, `rules` the logical-axis rules and `hooks` the execution hooks
    (for tracing and running)."""
    with jax.set_mesh(mesh), nnx.logical_axis_rules(rules), use_hooks(hooks):
        yield


def constrain(x: jax.Array, logical_axes: Sequence[str | None]) -> jax.Array:
    """`with_sharding_constraint` of x by logical axis names; x itself when no mesh/rules are active."""
    mesh = jax.sharding.get_abstract_mesh()
    rules = flax_spmd.get_logical_axis_rules()
    if mesh.empty or not rules:
        return x
    # inside a shard_map the manual axes are already split by hand: constrain only over the others
    sizes = {name: 1 if name in mesh.manual_axes else size
             for name, size in zip(mesh.axis_names, mesh.axis_sizes, strict=True)}
    spec = logical_to_spec(logical_axes, x.shape, rules, sizes)
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))
