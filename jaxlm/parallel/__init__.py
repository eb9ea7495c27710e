"""Parallelism: one ('data', 'fsdp', 'tensor') mesh, strategies as logical→mesh rule tables.

    mesh = make_mesh(cfg.parallel)                  # Auto axis types
    check_divisibility(cfg, mesh)                   # batch / heads / d_ff vs the mesh
    rules = rules_for(cfg.parallel.strategy)
    model = create_sharded_model(cfg.model, mesh, rules, seed)   # born sharded
    shardings = state_shardings(nnx.state(model), mesh, rules)   # for jit in/out_shardings
    with use_mesh(mesh, rules):                     # activates constrain() in the model
        ... jit(train_step)(state, shard_batch(local_batch, mesh)) ...

Multi-process runs call `initialize_distributed()` first (see docs/parallel.md).
"""

from jaxlm.parallel.constraints import constrain, use_mesh
from jaxlm.parallel.distributed import initialize_distributed
from jaxlm.parallel.mesh import check_divisibility, make_mesh, mesh_shape, mesh_sizes
from jaxlm.parallel.rules import STRATEGIES, Rules, logical_to_spec, rules_for
from jaxlm.parallel.shardings import (
    batch_sharding,
    create_sharded_model,
    shard_batch,
    sharded_initializer,
    state_shardings,
)

__all__ = [
    "STRATEGIES", "Rules", "batch_sharding", "check_divisibility", "constrain", "create_sharded_model",
    "initialize_distributed", "logical_to_spec", "make_mesh", "mesh_shape", "mesh_sizes", "rules_for",
    "shard_batch", "sharded_initializer", "state_shardings", "use_mesh",
]
