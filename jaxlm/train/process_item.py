"""An Orbax item that every process writes for itself: its loader position.

Orbax's JSON item is written by the primary process only; a loader position differs per
process, so each process writes its own `process_<i>-of-<n>.json` into the item's directory
(the layout grain's Orbax handler uses) and reads its own back:

    ocp.args.Composite(..., loader=LoaderSave(loader.state()))      # save, on every process
    ocp.args.Composite(..., loader=LoaderRestore())                  # restore -> this process's dict

After a change of process count a process finds no file of its own and gets process 0's, which
a loader treats as another process's position.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp


class ProcessStates(ocp.CheckpointHandler):
    """Orbax handler of the per-process JSON item (see the module docstring)."""

    def save(self, directory: Any, args: LoaderSave) -> None:
        (pathlib.Path(directory) / _process_file(jax.process_index(), jax.process_count())).write_text(
            json.dumps(args.state))

    def restore(self, directory: Any, args: LoaderRestore | None = None) -> dict:
        directory = pathlib.Path(directory)
        own = directory / _process_file(jax.process_index(), jax.process_count())
        if not own.exists():
            own = next(iter(sorted(directory.glob("process_0-of-*.json"))), own)
        return json.loads(own.read_text())

    def metadata(self, directory: Any) -> None:
        return None

    def finalize(self, directory: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _process_file(index: int, count: int) -> str:
    return f"process_{index}-of-{count}.json"


@ocp.args.register_with_handler(ProcessStates, for_save=True)
@dataclasses.dataclass
class LoaderSave(ocp.args.CheckpointArgs):
    state: dict


@ocp.args.register_with_handler(ProcessStates, for_restore=True)
@dataclasses.dataclass
class LoaderRestore(ocp.args.CheckpointArgs):
    pass
