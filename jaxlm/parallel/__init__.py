"""Parallelism: one ('data', 'stage', 'fsdp', 'context', 'tensor') mesh, strategies as
logical→mesh rule tables, and the two dimensions written by hand (`context.py`: ring attention
over a split sequence; `pipeline.py`: GPipe over layer stages).

    mesh = make_mesh(cfg.parallel)                  # Auto axis types
    check_divisibility(cfg, mesh)                   # batch / heads / d_ff / sequence / layers vs the mesh
    rules = rules_for(cfg.parallel.strategy, sequence_parallel=cfg.parallel.sequence_parallel)
    hooks = execution_hooks(cfg.parallel, mesh)     # context attention, pipeline (when their axes > 1)
    model = create_sharded_model(cfg.model, mesh, rules, seed)   # born sharded
    shardings = state_shardings(nnx.state(model), mesh, rules)   # for jit in/out_shardings
    with use_mesh(mesh, rules, hooks):              # activates constrain() and the hooks in the model
        ... jit(train_step)(state, shard_batch(local_batch, mesh)) ...

Multi-process runs call `initialize_distributed()` first (see docs/parallel.md).
"""

from jaxlm.config.parallel import MESH_AXES
from jaxlm.parallel.constraints import constrain, use_mesh
from jaxlm.parallel.context import ContextParallel
from jaxlm.parallel.distributed import initialize_distributed
from jaxlm.parallel.mesh import check_divisibility, execution_hooks, make_mesh, mesh_shape, mesh_sizes
from jaxlm.parallel.peers import all_processes, max_over_processes, peer_lost
from jaxlm.parallel.pipeline import GPipe, bubble_fraction, gpipe_schedule
from jaxlm.parallel.rules import STRATEGIES, Rules, logical_to_spec, rules_for
from jaxlm.parallel.shardings import (
    batch_sharding,
    create_sharded_model,
    shard_batch,
    sharded_initializer,
    state_shardings,
)

__all__ = [
    "MESH_AXES", "STRATEGIES", "ContextParallel", "GPipe", "Rules", "all_processes", "batch_sharding",
    "bubble_fraction", "check_divisibility", "constrain", "create_sharded_model", "execution_hooks", "gpipe_schedule",
    "initialize_distributed", "logical_to_spec", "make_mesh", "max_over_processes", "mesh_shape", "mesh_sizes",
    "peer_lost", "rules_for", "shard_batch", "sharded_initializer", "state_shardings", "use_mesh",
]
