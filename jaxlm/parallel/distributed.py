"""Multi-process start-up: `jax.distributed.initialize` from flags or the environment.

Every process of a run calls `initialize_distributed` before touching any device. Values come
from the arguments (CLI flags) or else from the environment:

    JAX_COORDINATOR_ADDRESS  host:port of process 0 ("auto": let JAX detect the cluster —
                             TPU pod slices, SLURM, Open MPI, Kubernetes)
    JAX_NUM_PROCESSES        number of processes
    JAX_PROCESS_ID           this process's index, 0 .. JAX_NUM_PROCESSES-1

With none of them set the run is single-process and nothing happens. CPU processes exchange
collectives through gloo (the CPU client has no other cross-process transport).

`peer_timeout_s` bounds how long a process goes on after a peer stopped showing signs of life
(see `peers.py`): after it, the process ends with one line instead of waiting for the runtime's
heartbeat timeout (`HEARTBEAT_MARGIN_S` later) and its C++ abort. The death of process 0 itself
ends the others at once through that abort; `stderr_relay.py` makes its report one line.
"""

from __future__ import annotations

import os
import warnings

import jax

from jaxlm.errors import JaxlmError
from jaxlm.parallel import stderr_relay
from jaxlm.parallel.peers import PEER_TIMEOUT_S, watch_peers

HEARTBEAT_MARGIN_S = 30

ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name, "")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise JaxlmError(f"{name}={raw!r} is not an integer; set it to a whole number") from None


def initialize_distributed(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None,
    peer_timeout_s: int | None = None,
) -> bool:
    """Join the multi-process run described by the arguments or environment; True if one was joined.

    Raises JaxlmError when only some of coordinator / process count / process id are given, or when
    the runtime refuses the join (`--coordinator auto` outside a cluster, say).
    """
    coordinator = coordinator or os.environ.get(ENV_COORDINATOR) or None
    num_processes = num_processes if num_processes is not None else _env_int(ENV_NUM_PROCESSES)
    process_id = process_id if process_id is not None else _env_int(ENV_PROCESS_ID)
    if jax.distributed.is_initialized():
        return True
    asked_timeout, peer_timeout_s = peer_timeout_s, PEER_TIMEOUT_S if peer_timeout_s is None else peer_timeout_s
    if peer_timeout_s < 1:
        raise JaxlmError(f"peer timeout {peer_timeout_s} s: give a whole number of seconds >= 1")
    heartbeat = {"heartbeat_timeout_seconds": peer_timeout_s + HEARTBEAT_MARGIN_S}
    if coordinator == "auto":
        _join("--coordinator auto found no cluster to join (TPU pod slice, SLURM, Open MPI, Kubernetes); "
              "pass --coordinator HOST:PORT --num-processes N --process-id I", peer_timeout_s, **heartbeat)
        return True
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    if all(value is None for value in given.values()):
        if asked_timeout is not None:
            warnings.warn("--peer-timeout applies to multi-process runs only (give --coordinator, --num-processes "
                          "and --process-id too); this single-process run ignores it", stacklevel=2)
        return False
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise JaxlmError(
            f"multi-process run needs {', '.join(missing)} too; pass them as flags or set "
            f"{ENV_COORDINATOR}, {ENV_NUM_PROCESSES}, {ENV_PROCESS_ID}"
        )
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise JaxlmError(f"coordinator {coordinator!r} is not HOST:PORT (e.g. 10.0.0.1:1234, process 0's address "
                         f"and a free port); fix --coordinator or {ENV_COORDINATOR}")
    if not 0 <= process_id < num_processes:
        raise JaxlmError(f"process_id={process_id} is outside 0..{num_processes - 1}; fix {ENV_PROCESS_ID}")
    _join(f"could not join the run at {coordinator} as process {process_id} of {num_processes}; check that "
          "every process was given the same coordinator and process count and that process 0 is running",
          peer_timeout_s, coordinator_address=coordinator, num_processes=num_processes, process_id=process_id,
          **heartbeat)
    return True


def _join(failure: str, peer_timeout_s: int, **settings) -> None:
    """`jax.distributed.initialize(**settings)`, then the liveness watch; a refusal or a timeout of
    the runtime is a JaxlmError of `failure` and the runtime's first line."""
    stderr_relay.start()
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(**settings)
    except (ValueError, RuntimeError) as error:  # JaxRuntimeError is a RuntimeError
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise JaxlmError(f"{failure} ({reason})") from None
    watch_peers(_runtime_client(), peer_timeout_s)


def _runtime_client():
    """The distributed runtime's client, whose key-value store the liveness beats go through.
    JAX exposes no public handle to it; Orbax's multi-host utilities read the same attribute."""
    from jax._src.distributed import global_state

    return global_state.client

