"""Shardings from logical names: parameters, optimizer state, batches; sharded initialisation.

Each dimension's logical name goes through the rule table (`rules.logical_to_spec`, which
drops a mesh axis that is already used or does not divide the dimension).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxlm.config import ModelConfig
from jaxlm.parallel.mesh import mesh_sizes
from jaxlm.parallel.rules import Rules, logical_to_spec

BATCH_AXES = ("data", "fsdp")


def _is_variable(x: Any) -> bool:
    return isinstance(x, nnx.Variable)


def state_shardings(abstract_state: Any, mesh: Mesh, rules: Rules) -> Any:
    """A pytree of NamedSharding with the structure of `abstract_state` (an nnx.State or any pytree).

    Variables (parameters, and optimizer moments, which copy their metadata) are sharded by
    their `out_sharding` logical names; everything else (RNG keys, step counters, plain
    arrays) is replicated. A Variable keeps its place, holding its NamedSharding as value, so
    the result zips leaf by leaf with the state (`jax.tree.map`) and serves as `jax.jit`
    in/out shardings for it.
    """
    sizes = mesh_sizes(mesh)
    replicated = NamedSharding(mesh, PartitionSpec())

    def sharding(leaf: Any) -> Any:
        if not _is_variable(leaf):
            return replicated
        names = leaf.get_metadata().get("out_sharding")
        spec = logical_to_spec(names, leaf.shape, rules, sizes) if names else PartitionSpec()
        return leaf.replace(NamedSharding(mesh, spec))

    return jax.tree.map(sharding, abstract_state, is_leaf=_is_variable)


def sharded_initializer(model_cfg: ModelConfig, mesh: Mesh, rules: Rules) -> tuple[nnx.GraphDef, Any]:
    """(graphdef, init): the jitted `init(keys) -> state` of `build_model(model_cfg)`, whose
    out_shardings come from the rule table. keys: [2] typed keys, the params and dropout seeds.

    The keys are an argument rather than constants baked into the program: a jitted function of
    no inputs is one big constant expression, which XLA may try to fold at compile time (slowly,
    on the host) instead of running it on the devices.
    """
    from jaxlm.models import build_model  # here, not at the top: models → nn.stack → parallel.constraints

    abstract = nnx.eval_shape(lambda: build_model(model_cfg))
    graphdef, abstract_state = nnx.split(abstract)

    @jax.jit(out_shardings=state_shardings(abstract_state, mesh, rules))
    def init(keys: jax.Array) -> nnx.State:
        return nnx.split(build_model(model_cfg, rngs=nnx.Rngs(params=keys[0], dropout=keys[1])))[1]

    return graphdef, init


def create_sharded_model(model_cfg: ModelConfig, mesh: Mesh, rules: Rules, seed: int = 0) -> nnx.Module:
    """`build_model(model_cfg, seed=seed)` with every parameter created directly in its shards.

    The state is produced by the jitted `sharded_initializer`, so no device ever holds the full
    model; the values equal the unsharded `build_model`'s.
    """
    graphdef, init = sharded_initializer(model_cfg, mesh, rules)
    keys = jnp.stack([jax.random.key(seed), jax.random.key(seed + 1)])
    with jax.set_mesh(mesh):
        state = init(keys)
    return nnx.merge(graphdef, state)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Rows (the leading dimension) split over (data, fsdp); other dimensions whole."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXES))


def shard_batch(local_batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Global arrays from this process's rows of the batch (all rows in a single process).

    Each process passes the contiguous slice of the global batch its devices hold; the global
    batch has `jax.process_count()` times as many rows.
    """
    sharding = batch_sharding(mesh)
    return {
        key: jax.make_array_from_process_local_data(sharding, np.asarray(value))
        for key, value in local_batch.items()
    }
