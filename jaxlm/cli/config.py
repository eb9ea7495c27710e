"""`jaxlm config CONFIG [key=value ...]`: the resolved config as YAML.

    jaxlm config gpt2_tiny train.steps=50 > my_run.yaml && jaxlm train my_run.yaml

Every key is shown with its value after defaults and overrides, so the output is also a
complete, loadable config file.
"""

from __future__ import annotations

import argparse

from jaxlm.cli import add_config_arguments

HELP = "print a config with every key resolved (defaults and overrides applied), as YAML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import yaml

    from jaxlm.config import load_config

    resolved = load_config(args.config, args.overrides).to_dict()
    heading = {"name": resolved.pop("name"), "workdir": resolved.pop("workdir")}
    print(yaml.safe_dump({**heading, **resolved}, sort_keys=False), end="")
    return 0
