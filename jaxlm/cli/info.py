"""`jaxlm info CONFIG`: parameter count and the parameter tree with shapes, dtypes and axes."""

from __future__ import annotations

import argparse

from jaxlm.cli import add_config_arguments

HELP = "print a model's parameter count and its parameter tree (shapes, dtypes, logical axes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from jaxlm.config import load_config
    from jaxlm.models import build_model, count_params, parameter_table

    cfg = load_config(args.config, args.overrides)
    model = build_model(cfg.model)
    rows = parameter_table(model)
    width = max(len(path) for path, *_ in rows)
    for path, shape, dtype, axes in rows:
        print(f"{path:<{width}}  {shape!s:<18} {dtype:<9} {axes}")
    print(f"{cfg.name}: {cfg.model.family}, {count_params(model):,} parameters")
    return 0
