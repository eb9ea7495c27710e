"""`jaxlm train CONFIG [key=value ...]`: train (or resume) a run in its workdir."""

from __future__ import annotations

import argparse
import time

from jaxlm.cli import add_config_arguments

HELP = "train a model from a config, resuming from the newest checkpoint in its workdir"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--workdir", default="", help="run directory (default: the config's, else runs/<name>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    parser.add_argument("--coordinator", default=None,
                        help="multi-process: host:port of process 0, or 'auto' on TPU pods/SLURM "
                             "(default: $JAX_COORDINATOR_ADDRESS; see docs/parallel.md)")
    parser.add_argument("--num-processes", type=int, default=None, help="multi-process: number of processes")
    parser.add_argument("--process-id", type=int, default=None, help="multi-process: this process's index")
    parser.add_argument("--peer-timeout", type=int, default=None, metavar="SECONDS",
                        help="multi-process: end with one line (exit code 75) once another process has shown no "
                             "sign of life for this long (default 120)")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from jaxlm.parallel import initialize_distributed

    initialize_distributed(args.coordinator, args.num_processes, args.process_id, args.peer_timeout)
    from jaxlm.config import load_config
    from jaxlm.infer.held_out import print_held_out_report
    from jaxlm.models import count_params
    from jaxlm.train.loop import train, workdir_for
    from jaxlm.train.preemption import exit_code
    from jaxlm.train.run_folder import run_tokenizer

    overrides = list(args.overrides) + ([f"workdir={args.workdir}"] if args.workdir else [])
    cfg = load_config(args.config, overrides)
    workdir = workdir_for(cfg)
    print(f"{cfg.name}: {cfg.model.family} model, objective {cfg.data.objective}, {cfg.train.steps} steps → {workdir}")
    result = train(cfg, progress=not args.no_progress)
    model = result.session.model()
    print(f"{count_params(model):,} parameters")
    if result.losses:
        first, last = min(result.losses), max(result.losses)
        print(f"train loss: step {first} {result.losses[first]:.4f} → step {last} {result.losses[last]:.4f}")
    if result.eval_metrics:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(result.eval_metrics.items()))
        print(f"final eval: {shown}")
    if not result.stopped_by:
        print_held_out_report(cfg, model, run_tokenizer(cfg, workdir))
    print(f"done in {time.perf_counter() - started:.1f} s; metrics in {workdir / 'metrics.jsonl'}, "
          f"checkpoints in {workdir / 'checkpoints'}")
    return exit_code(result.stopped_by)
