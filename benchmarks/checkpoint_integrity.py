"""What the checkpoint manifest costs: checksumming a train state next to saving it.

    python benchmarks/checkpoint_integrity.py [--preset gpt2_small --rounds 3]

For the preset's train state (params + AdamW moments, float32) it prints, per round, the time
to checksum every array on its devices (`jaxlm.train.manifest.checksums`, compiled once
before), the time `Checkpointer.save` blocks the loop (the checksum included), and the time
until the asynchronous save is committed. Rounds alternate with nothing else running.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import jax

from jaxlm.config import load_config
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.manifest import checksums
from jaxlm.train.session import build_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gpt2_small")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cfg = load_config(args.preset)
    session = build_session(cfg)
    state_bytes = sum(leaf.nbytes for leaf in jax.tree.leaves(session.state))
    checksums(session.state)  # compile
    print(f"{args.preset}: train state {state_bytes / 2**20:,.0f} MiB in {len(jax.tree.leaves(session.state))} arrays "
          f"on {jax.device_count()} x {jax.devices()[0].device_kind}")
    print(f"{'round':>5} {'checksum s':>11} {'save blocks s':>14} {'save commits s':>15}")
    with tempfile.TemporaryDirectory() as directory:
        checkpoints = Checkpointer(pathlib.Path(directory) / "checkpoints", cfg.checkpoint)
        for round_ in range(1, args.rounds + 1):
            start = time.perf_counter()
            checksums(session.state)
            checksummed = time.perf_counter()
            checkpoints.save(round_, session.state, {}, cfg.to_dict())
            blocked = time.perf_counter()
            checkpoints.wait()
            committed = time.perf_counter()
            times = (checksummed - start, blocked - checksummed, committed - checksummed)
            print(f"{round_:>5} {times[0]:>11.3f} {times[1]:>14.3f} {times[2]:>15.3f}")
        checkpoints.close()


if __name__ == "__main__":
    main()
