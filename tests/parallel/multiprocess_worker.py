"""One process of a 2-process, 4-devices-each run of the tiny decoder under fsdp_tp.

    python multiprocess_worker.py PROCESS_ID NUM_PROCESSES COORDINATOR WORKDIR first|resume

'first' trains steps 0-2, checkpoints step 3, prints SAVED and waits to be killed; 'resume'
restores the newest checkpoint and trains to step 5. Losses go to WORKDIR/losses_<phase>.json.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

from jaxlm.parallel import initialize_distributed

TOTAL_STEPS, SAVE_AT = 5, 3


def main(process_id: int, num_processes: int, coordinator: str, workdir: str, phase: str) -> None:
    initialize_distributed(coordinator, num_processes, process_id)
    import jax
    from parallel_harness import ShardedRun, tiny_config

    assert jax.process_count() == num_processes and jax.device_count() == 8
    run = ShardedRun(tiny_config("decoder", "fsdp_tp"))
    checkpoints = pathlib.Path(workdir) / "checkpoints"
    start = 0 if phase == "first" else run.restore(checkpoints)
    losses = run.train(range(start, SAVE_AT if phase == "first" else TOTAL_STEPS))
    if process_id == 0:
        (pathlib.Path(workdir) / f"losses_{phase}.json").write_text(json.dumps({"start": start, "losses": losses}))
    if phase == "first":
        run.save(checkpoints, SAVE_AT)
        print("SAVED", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
