"""Packing: several short sequences per row, with segment ids and per-sequence positions.

Sequences (dicts of equal-length 1-D int arrays, e.g. {'inputs', 'targets'}) are placed greedily
in order: a sequence joins the current row when it fits, otherwise the row is closed (and padded)
and a new one starts. In a row of length L holding sequences of lengths n_1 … n_k:

    segments  = [1]*n_1 + [2]*n_2 + … + [k]*n_k + [0]*(L - Σn)     (0 = padding)
    positions = [0 … n_1-1] + [0 … n_2-1] + … + [0]*(L - Σn)

With attention allowed only where query segment == key segment != 0, no token sees another
sequence, and positions restart so each sequence looks as if it were alone in the row.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from jaxlm.errors import JaxlmError


def _row(items: list[dict[str, np.ndarray]], length: int) -> dict[str, np.ndarray]:
    row = {key: np.zeros(length, np.int32) for key in items[0]}
    row["segments"] = np.zeros(length, np.int32)
    row["positions"] = np.zeros(length, np.int32)
    start = 0
    for segment, item in enumerate(items, 1):
        n = len(next(iter(item.values())))
        for key, values in item.items():
            row[key][start : start + n] = values
        row["segments"][start : start + n] = segment
        row["positions"][start : start + n] = np.arange(n)
        start += n
    return row


def pack_sequences(sequences: Iterable[dict[str, np.ndarray]], length: int) -> list[dict[str, np.ndarray]]:
    """Pack `sequences` into rows of `length`; each row adds 'segments' and 'positions' [length]."""
    rows, current, used = [], [], 0
    for item in sequences:
        n = len(next(iter(item.values())))
        if n == 0:
            continue
        if n > length:
            raise JaxlmError(f"a sequence of {n} tokens does not fit a packed row of {length}; split it first")
        if used + n > length:
            rows.append(_row(current, length))
            current, used = [], 0
        current.append(item)
        used += n
    if current:
        rows.append(_row(current, length))
    return rows
