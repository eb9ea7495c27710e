"""Sharding strategies side by side on host CPU devices: `jaxlm bench` with this script's defaults.

    python benchmarks/sharding.py [--devices 8 --steps 10 --preset gpt2_tiny --batch 16] [key=value ...] [flags]

Every strategy is compiled (the real train step), its compiled memory and HLO collectives are
printed beside the predictions from the rule table, and it runs `--steps` interleaved steps. All
of it is `jaxlm.lab` (docs/benchmarking.md); this script only picks the defaults. Config
overrides and the other `jaxlm bench` flags (`--hardware`, `--meshes`, `--out`) pass through.
"""

from __future__ import annotations

import argparse
import sys

from jaxlm.cli import main as jaxlm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8, help="host CPU devices to simulate")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per strategy (0: compile only)")
    parser.add_argument("--preset", default="gpt2_tiny")
    parser.add_argument("--batch", type=int, default=16)
    args, passed_on = parser.parse_known_args()
    return jaxlm(["bench", args.preset, f"data.batch_size={args.batch}", "model.dropout_rate=0.0", *passed_on,
                  "--devices", str(args.devices), "--steps", str(args.steps)])


if __name__ == "__main__":
    sys.exit(main())
