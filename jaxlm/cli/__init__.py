"""`jaxlm <command> ...`: one module per command under `jaxlm/cli/`, imported only when used.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.

Exit codes: 0 done; 2 an error a user can fix (`JaxlmError`, including `ConfigError`), printed as
one line; 130 / 143 `jaxlm train` stopped by SIGINT / SIGTERM after saving a checkpoint (run it
again to resume); 75 (EX_TEMPFAIL) another process of a multi-process run died: restart them all.
Warnings print as one `warning: ...` line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from jaxlm.errors import JaxlmError, PeerLostError

EXIT_USER_ERROR = 2

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
    "bench": "jaxlm.cli.bench",
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


def parse_arguments(argv: Sequence[str], modules: dict[str, Any] | None = None) -> argparse.Namespace:
    """The command line as a namespace. `key=value` overrides may come before or after the options
    (`train gpt2_tiny --no-progress train.steps=10`): argparse places only those before them, and the
    rest are appended in order; anything else it cannot place stays an error."""
    modules = _available() if modules is None else modules
    parser = argparse.ArgumentParser(prog="jaxlm", description="Train, evaluate and explore transformer LMs.")
    parser.add_argument("--version", action="version", version=version_line())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in modules.items():
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
    args, unplaced = parser.parse_known_args(list(argv))
    if unplaced and hasattr(args, "overrides") and all("=" in arg and not arg.startswith("-") for arg in unplaced):
        args.overrides = [*args.overrides, *unplaced]
    elif unplaced:
        parser.error(f"unrecognized arguments: {' '.join(unplaced)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    modules = _available()
    args = parse_arguments(argv, modules)
    warnings.showwarning = _show_warning
    try:
        return int(modules[args.command].run(args) or 0)
    except PeerLostError as error:
        from jaxlm.parallel.peers import exit_peer_lost  # a multi-process run: jaxlm.parallel is loaded already

        exit_peer_lost(str(error))
    except JaxlmError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (e.g. `jaxlm presets | head`): stop without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit-time flush goes nowhere
        return 1


def _show_warning(message: Warning | str, category: type, filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    print(f"warning: {message}", file=file or sys.stderr)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The shared `CONFIG [key=value ...]` positional arguments."""
    parser.add_argument("config", help="a YAML path or a preset name (e.g. bert_tiny; list them with: jaxlm presets)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys, e.g. train.steps=10")
