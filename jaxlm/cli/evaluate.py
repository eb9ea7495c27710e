"""`jaxlm eval CONFIG [key=value ...]`: evaluate the newest checkpoint of a run on its validation split."""

from __future__ import annotations

import argparse

from jaxlm.cli import add_config_arguments

HELP = "evaluate the newest good checkpoint in a run's workdir on the validation split"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--workdir", default="", help="run directory (default: the config's, else runs/<name>)")
    parser.add_argument("--batches", type=int, default=0, help="validation batches (default: train.eval_batches)")
    parser.add_argument("--split", default="validation", help="data split to evaluate on")


def run(args: argparse.Namespace) -> int:
    from jaxlm.config import load_config
    from jaxlm.train.loop import evaluate_split, workdir_for
    from jaxlm.train.session import load_session

    overrides = list(args.overrides) + ([f"workdir={args.workdir}"] if args.workdir else [])
    session, step = load_session(workdir_for(load_config(args.config, overrides)), overrides)
    cfg = session.cfg
    batches = args.batches or cfg.train.eval_batches
    metrics = evaluate_split(session, cfg, args.split, batches)
    print(f"{cfg.name} step {step}, {args.split} ({batches} batches of {cfg.data.batch_size}):")
    for key, value in sorted(metrics.items()):
        print(f"  {key:<16} {value:.4f}")
    return 0
