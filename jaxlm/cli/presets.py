"""`jaxlm presets`: the presets shipped with the package, one line each."""

from __future__ import annotations

import argparse

HELP = "list the presets shipped with jaxlm, one line each"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    from jaxlm.config import load_config, preset_names, preset_summary

    names = preset_names()
    width = max(len(name) for name in names)
    for name in names:
        cfg = load_config(name)
        shape = f"{cfg.model.num_layers}x{cfg.model.d_model}"
        print(f"{name:<{width}}  {cfg.model.family:<15} {cfg.data.objective:<15} {shape:<8} {preset_summary(name)}")
    print("show one resolved: jaxlm config NAME [key=value ...]; train it: jaxlm train NAME")
    return 0
