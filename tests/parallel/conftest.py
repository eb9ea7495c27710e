"""Session-wide caches so each (family, strategy) train step compiles once for all tests."""

from __future__ import annotations

import pathlib
import sys

import jax
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from parallel_harness import ShardedRun, tiny_config

STEPS = 5

_runs: dict[tuple[str, str], tuple[ShardedRun, list[float]]] = {}


def trained(family: str, strategy: str) -> tuple[ShardedRun, list[float]]:
    """A run of `family` under `strategy` on 8 devices ('single': one device) after 5 steps,
    and its 5 losses. Built once per session; later callers may train it further."""
    key = (family, strategy)
    if key not in _runs:
        if strategy == "single":
            run = ShardedRun(tiny_config(family), devices=jax.devices()[:1])
        else:
            run = ShardedRun(tiny_config(family, strategy))
        _runs[key] = (run, run.train(range(STEPS)))
    return _runs[key]


@pytest.fixture(scope="session")
def train_run():
    return trained
