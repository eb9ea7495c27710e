"""`jaxlm bench CONFIG [key=value ...]`: compile every strategy × mesh, predict, measure, compare.

`--devices N` simulates N host CPU devices. A process's device count is fixed when JAX starts, so
when this process was not started with that count the command runs itself again in a child
process whose environment asks for it (`--xla_force_host_platform_device_count=N`, CPU platform).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import subprocess
import sys

from jaxlm.cli import add_config_arguments
from jaxlm.errors import JaxlmError

HELP = "compare sharding strategies: compiled memory and collectives, predictions, roofline, measured speed"
DEVICE_FLAG = "--xla_force_host_platform_device_count"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--strategies", nargs="+", default=None, metavar="NAME",
                        help="strategies to compare (default: all), e.g. --strategies dp fsdp fsdp_tp")
    parser.add_argument("--meshes", nargs="+", default=None, metavar="AXIS=N,...",
                        help="meshes to try with every strategy (data=2,fsdp=2,tensor=2) or with one "
                             "(fsdp_tp:fsdp=4,tensor=2); a strategy no mesh applies to gets its default")
    parser.add_argument("--devices", type=int, default=0,
                        help="simulate this many host CPU devices (compile-only sweeps of big meshes: --steps 0)")
    parser.add_argument("--steps", type=int, default=3, help="steps to run and time per row (0: compile only)")
    parser.add_argument("--hardware", default="",
                        help="profile the predictions are for: h100, h200, a100, tpu_v5e, tpu_v5p "
                             "(default: this device's, else h100)")
    parser.add_argument("--out", default="", help="output folder (default: <workdir>/bench/<time>)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _simulation_environment(devices: int) -> dict[str, str]:
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(DEVICE_FLAG)]
    return {**os.environ, "XLA_FLAGS": " ".join([*flags, f"{DEVICE_FLAG}={devices}"]), "JAX_PLATFORMS": "cpu"}


def _command(args: argparse.Namespace) -> list[str]:
    """This invocation as a command line (for the child process)."""
    command = [sys.executable, "-m", "jaxlm.cli", "bench", args.config, *args.overrides,
               "--devices", str(args.devices), "--steps", str(args.steps)]
    for flag, value in (("--strategies", args.strategies), ("--meshes", args.meshes)):
        if value:
            command += [flag, *value]
    for flag, value in (("--hardware", args.hardware), ("--out", args.out)):
        if value:
            command += [flag, value]
    command += [flag for flag, on in (("--no-plots", args.no_plots), ("--no-progress", args.no_progress)) if on]
    return command


def run(args: argparse.Namespace) -> int:
    if args.devices < 0 or args.steps < 0:
        raise JaxlmError("--devices and --steps must be >= 0")
    if args.devices:
        environment = _simulation_environment(args.devices)
        if any(os.environ.get(key) != environment[key] for key in ("XLA_FLAGS", "JAX_PLATFORMS")):
            return subprocess.call(_command(args), env=environment)

    import jax

    from jaxlm import parallel
    from jaxlm.config import load_config
    from jaxlm.lab.hardware import hardware_for, profile_of_device
    from jaxlm.lab.report import markdown, write_reports
    from jaxlm.lab.sweep import sweep
    from jaxlm.train.loop import workdir_for

    if args.devices and jax.device_count() != args.devices:
        raise JaxlmError(f"--devices {args.devices}: JAX started with {jax.device_count()} devices; "
                         f"run jaxlm bench in a fresh process")
    cfg = load_config(args.config, args.overrides)
    hardware = hardware_for(args.hardware) if args.hardware else (
        profile_of_device(jax.devices()[0].device_kind) or hardware_for("h100"))
    strategies = [s for item in args.strategies or parallel.STRATEGIES for s in item.split(",") if s]
    results = sweep(args.config, args.overrides, strategies, args.meshes, args.steps, hardware,
                    progress=not args.no_progress)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = pathlib.Path(args.out) if args.out else workdir_for(cfg) / "bench" / stamp
    written = write_reports(directory, args.config, results, hardware)
    if not args.no_plots:
        from jaxlm.lab.plots import write_plots

        written += write_plots(directory, results, hardware)
    print(markdown(args.config, results, hardware))
    print("\nwritten: " + ", ".join(written))
    return 0
