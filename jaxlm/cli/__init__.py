"""`jaxlm <command> ...`: one module per command under `jaxlm/cli/`, imported only when used.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Errors a user can fix (`JaxlmError`, including `ConfigError`) print as one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from jaxlm.errors import JaxlmError

COMMANDS = {
    "presets": "jaxlm.cli.presets",
    "config": "jaxlm.cli.config",
    "info": "jaxlm.cli.info",
    "prepare": "jaxlm.cli.prepare",
    "train": "jaxlm.cli.train",
    "eval": "jaxlm.cli.evaluate",
    "generate": "jaxlm.cli.generate",
    "fill-mask": "jaxlm.cli.fill_mask",
    "convert": "jaxlm.cli.convert",
}


def _available() -> dict[str, object]:
    modules = {}
    for name, path in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(path)
        except ModuleNotFoundError as error:
            if error.name != path:
                raise
    return modules


def version_line() -> str:
    """`jaxlm X (jax Y, flax Z)`: versions read from the installed metadata, without importing jax."""
    from importlib import metadata

    import jaxlm

    return f"jaxlm {jaxlm.__version__} (jax {metadata.version('jax')}, flax {metadata.version('flax')})"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    modules = _available()
    parser = argparse.ArgumentParser(prog="jaxlm", description="Train, evaluate and explore transformer LMs.")
    parser.add_argument("--version", action="version", version=version_line())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in modules.items():
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except JaxlmError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (e.g. `jaxlm presets | head`): stop without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit-time flush goes nowhere
        return 1


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The shared `CONFIG [key=value ...]` positional arguments."""
    parser.add_argument("config", help="a YAML path or a preset name (e.g. bert_tiny; list them with: jaxlm presets)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys, e.g. train.steps=10")
