"""`jaxlm eval CONFIG_OR_RUN [key=value ...]`: evaluate the newest checkpoint of a run (or a model-only
checkpoint) on the validation split, tokenized with the tokenizer kept in its folder."""

from __future__ import annotations

import argparse

from jaxlm.cli.generate import add_model_arguments

HELP = "evaluate a run's newest good checkpoint (or a model-only checkpoint) on the validation split"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--batches", type=int, default=0, help="validation batches (default: train.eval_batches)")
    parser.add_argument("--split", default="validation", help="data split to evaluate on")


def run(args: argparse.Namespace) -> int:
    from jaxlm.errors import JaxlmError
    from jaxlm.train.loop import evaluate_split
    from jaxlm.train.run_folder import run_tokenizer
    from jaxlm.train.trained import load_trained_session

    if args.batches < 0:
        raise JaxlmError(f"--batches={args.batches}: give a positive number of batches (0 or none: train.eval_batches)")
    session, step, folder = load_trained_session(args.config, list(args.overrides), args.workdir)
    cfg = session.cfg
    tokenizer = run_tokenizer(cfg, folder)
    batches = args.batches or cfg.train.eval_batches
    metrics = evaluate_split(session, cfg, args.split, batches, tokenizer)
    shown_step = "-" if step is None else step  # a model-only checkpoint has no step
    print(f"{cfg.name} step {shown_step}, {args.split} ({batches} batches of {cfg.data.batch_size}):")
    for key, value in sorted(metrics.items()):
        print(f"  {key:<16} {value:.4f}")
    return 0
