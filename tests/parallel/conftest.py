"""Session-wide caches so each (family, strategy) train step compiles once for all tests."""

from __future__ import annotations

import pathlib
import sys

import jax
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from parallel_harness import ShardedRun, split_config, tiny_config

STEPS = 5

_runs: dict[tuple[str, str], tuple[ShardedRun, list[float]]] = {}


def _trained(key: tuple, build) -> tuple[ShardedRun, list[float]]:
    if key not in _runs:
        run = build()
        _runs[key] = (run, run.train(range(STEPS)))
    return _runs[key]


def trained(family: str, strategy: str) -> tuple[ShardedRun, list[float]]:
    """A run of `family` under `strategy` on 8 devices ('single': one device) after 5 steps,
    and its 5 losses. Built once per session; later callers may train it further."""
    if strategy == "single":
        return _trained((family, strategy), lambda: ShardedRun(tiny_config(family), devices=jax.devices()[:1]))
    return _trained((family, strategy), lambda: ShardedRun(tiny_config(family, strategy)))


def trained_split(family: str, layout: str) -> tuple[ShardedRun, list[float]]:
    """As `trained`, for the scanned dropout-free model on one of SPLIT_LAYOUTS ('single': one device)."""
    if layout == "single":
        return _trained((family, "split", layout), lambda: ShardedRun(split_config(family), jax.devices()[:1]))
    return _trained((family, "split", layout), lambda: ShardedRun(split_config(family, layout)))


@pytest.fixture(scope="session")
def train_run():
    return trained


@pytest.fixture(scope="session")
def train_split_run():
    return trained_split
