"""What a checkpoint holds, written beside its arrays and checked before and after reading them.

    manifest = make_manifest(step, state)        # at save, on the devices that hold `state`
    {"step": 40, "arrays": {"params.decoder.layers.0.attention.query.kernel":
                            {"shape": [64, 64], "dtype": "float32", "checksum": [8123, 991]}, ...}}

The checksum of an array x of n elements, with b_i the bits of element i as uint32 (bfloat16
and int8 widened; a 64-bit element is two words):

    plain    = sum_i b_i            mod 2^32
    weighted = sum_i (2i + 1) b_i   mod 2^32

Integer sums wrap exactly and do not depend on the reduction order, so the numbers are the same
on any mesh, any number of processes and the host. A flipped bit in element i changes `plain`
by ±2^k and `weighted` by ±2^k (2i + 1), never 0 mod 2^32 (2i + 1 is odd): every single-bit flip
is caught, and two elements swapped change `weighted`. A float sum would need a tolerance that
lets flips in the low mantissa bits through.

Before any array is read, `model_differences` and `layout_differences` tell a checkpoint of
another model (or optimizer) from this run's; after reading, `verify` tells corruption.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

# Model keys that change how the same parameters are computed, not what they are.
EXECUTION_KEYS = frozenset({"attention_impl", "remat", "dtype"})


def array_paths(tree: Any) -> list[str]:
    """Dotted path of every leaf, in `jax.tree.leaves` order."""
    return [jax.tree_util.keystr(path, simple=True, separator=".") for path, _ in
            jax.tree_util.tree_flatten_with_path(tree)[0]]


def _words(x: jax.Array) -> jax.Array:
    """The bits of `x` as uint32, one word per element (two for 64-bit elements)."""
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    if x.dtype == jnp.bool_:
        return x.astype(jnp.uint32)
    unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[x.dtype.itemsize]
    return jax.lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32)


def _checksum_pair(x: jax.Array) -> jax.Array:
    words = _words(x).reshape(-1)
    weights = 2 * jnp.arange(words.size, dtype=jnp.uint32) + 1
    return jnp.stack([jnp.sum(words, dtype=jnp.uint32), jnp.sum(words * weights, dtype=jnp.uint32)])


def _checksum_all(leaves: list[jax.Array]) -> jax.Array:
    return jnp.stack([_checksum_pair(x) for x in leaves])


@functools.cache
def _jitted_checksums(out_sharding: NamedSharding | None) -> Any:
    return jax.jit(_checksum_all, out_shardings=out_sharding)


def checksums(tree: Any) -> np.ndarray:
    """[leaves, 2] uint32: (plain, weighted) per leaf, computed where the arrays live; every
    process gets the whole result."""
    leaves = jax.tree.leaves(tree)
    sharding = getattr(leaves[0], "sharding", None)
    replicated = NamedSharding(sharding.mesh, PartitionSpec()) if isinstance(sharding, NamedSharding) else None
    return np.asarray(_jitted_checksums(replicated)(leaves).addressable_data(0))


def make_manifest(step: int, state: Any) -> dict:
    """The JSON manifest of `state` saved as `step` (see the module docstring)."""
    sums = checksums(state)
    arrays = {
        path: {"shape": list(leaf.shape), "dtype": str(leaf.dtype), "checksum": [int(a), int(b)]}
        for path, leaf, (a, b) in zip(array_paths(state), jax.tree.leaves(state), sums, strict=True)
    }
    return {"step": step, "arrays": arrays}


_MISSING = object()


def _shown(value: Any) -> str:
    return "(absent)" if value is _MISSING else repr(value) if isinstance(value, str) else str(value)


def model_differences(saved: Mapping, current: Mapping) -> list[str]:
    """'model.d_model: 32 saved, 64 here' for every model key (but `EXECUTION_KEYS`) that differs."""
    keys = sorted((saved.keys() | current.keys()) - EXECUTION_KEYS)
    return [
        f"model.{key}: {_shown(saved.get(key, _MISSING))} saved, {_shown(current.get(key, _MISSING))} here"
        for key in keys if saved.get(key, _MISSING) != current.get(key, _MISSING)
    ]


def layout_differences(manifest: Mapping, abstract: Any) -> list[str]:
    """Arrays that the checkpoint and a state of `abstract`'s shapes do not share, or hold in other
    shapes or dtypes (e.g. an optimizer built with other options)."""
    saved = manifest["arrays"]
    wanted = {path: (list(leaf.shape), str(leaf.dtype))
              for path, leaf in zip(array_paths(abstract), jax.tree.leaves(abstract), strict=True)}
    differences = [f"{path}: only in the checkpoint" for path in saved if path not in wanted]
    for path, (shape, dtype) in wanted.items():
        entry = saved.get(path)
        if entry is None:
            differences.append(f"{path}: not in the checkpoint")
        elif (entry["shape"], entry["dtype"]) != (shape, dtype):
            differences.append(f"{path}: {entry['dtype']}{entry['shape']} saved, {dtype}{shape} here")
    return differences


def verify(step: int, state: Any, manifest: Mapping) -> str:
    """Why `state`, read from the checkpoint of `step`, is not what was saved ('' when it is)."""
    held = {manifest["step"]} | ({int(np.asarray(state["step"].addressable_data(0)))} if "step" in state else set())
    if held != {step}:
        return f"the directory is named {step} but holds step {max(held - {step})}"
    saved = manifest["arrays"]
    bad = [path for path, (a, b) in zip(array_paths(state), checksums(state), strict=True)
           if saved[path]["checksum"] != [int(a), int(b)]]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        return f"checksum mismatch in {bad[0]}{more}"
    return ""
