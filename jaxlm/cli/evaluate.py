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
    from jaxlm.config import config_from_dict, load_config
    from jaxlm.errors import JaxlmError
    from jaxlm.train.checkpoint import Checkpointer
    from jaxlm.train.loop import evaluate_split, workdir_for
    from jaxlm.train.session import build_session

    if args.batches < 0:
        raise JaxlmError(f"--batches={args.batches}: give a positive number of batches (0 or none: train.eval_batches)")
    overrides = list(args.overrides) + ([f"workdir={args.workdir}"] if args.workdir else [])
    cfg = load_config(args.config, overrides)
    checkpoints = Checkpointer(workdir_for(cfg) / "checkpoints", cfg.checkpoint)
    saved = checkpoints.read_config()
    if saved is None:
        raise JaxlmError(f"no checkpoint in {checkpoints.directory}; train first: jaxlm train {args.config}")
    cfg = config_from_dict(saved, overrides)
    session = build_session(cfg)
    step, session.state, _, _ = checkpoints.restore(session.abstract_state())
    checkpoints.close()
    batches = args.batches or cfg.train.eval_batches
    metrics = evaluate_split(session, cfg, args.split, batches)
    print(f"{cfg.name} step {step}, {args.split} ({batches} batches of {cfg.data.batch_size}):")
    for key, value in sorted(metrics.items()):
        print(f"  {key:<16} {value:.4f}")
    return 0
