"""Causal LM examples: each document becomes [BOS] tokens [EOS], split into next-token pairs
and packed several per row.

For a document d: s = [BOS] + d + [EOS] (no BOS for a tokenizer without one, as GPT-2's: its
documents only end with <|endoftext|>); inputs = s[:-1], targets = s[1:] (len(d) + 1 tokens),
cut into pieces of at most L = seq_length. Pieces are shuffled and packed (`jaxlm.data.packing`):
segments number the pieces in a row, positions restart at 0 in each piece, and every target
belongs to the same piece as its input, so no token predicts (or attends) across a boundary.

One example: inputs, targets, segments, positions [L] int32; weights [L] float32 = segments > 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxlm.data.packing import pack_sequences


def next_token_pieces(tokens: np.ndarray, length: int, bos: int | None, eos: int) -> list[dict[str, np.ndarray]]:
    """[BOS] tokens [EOS] as (inputs, targets) pieces of at most `length`."""
    sequence = np.concatenate([[] if bos is None else [bos], tokens, [eos]]).astype(np.int32)
    inputs, targets = sequence[:-1], sequence[1:]
    return [
        {"inputs": inputs[start : start + length], "targets": targets[start : start + length]}
        for start in range(0, len(inputs), length)
    ]


def causal_lm_examples(
    documents: Sequence[np.ndarray], length: int, bos: int | None, eos: int, rng: np.random.Generator
) -> list[dict[str, np.ndarray]]:
    """Packed rows from tokenized `documents` (pieces in random order)."""
    pieces = [piece for doc in documents for piece in next_token_pieces(doc, length, bos, eos)]
    rows = pack_sequences((pieces[i] for i in rng.permutation(len(pieces))), length)
    for row in rows:
        row["weights"] = (row["segments"] > 0).astype(np.float32)
    return rows
