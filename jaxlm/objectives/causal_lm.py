"""Causal LM examples: each document becomes [BOS] tokens [EOS], split into next-token pairs
and packed several per row.

For a document d: s = [BOS] + d + [EOS] (no BOS for a tokenizer without one, as GPT-2's: its
documents only end with <|endoftext|>); inputs = s[:-1], targets = s[1:] (len(d) + 1 tokens),
cut into pieces of at most L = seq_length. Pieces are packed greedily in stream order (grain's
first-fit packing with one bin: a piece joins the row when it fits, else the row is closed and
padded): segments number the pieces in a row (1, 2, …; 0 = padding), positions restart at 0 in
each piece, and every target belongs to the same piece as its input, so no token predicts (or
attends) across a boundary.

One example: inputs, targets, segments, positions [L] int32; weights [L] float32 = segments > 0.
"""

from __future__ import annotations

import grain
import numpy as np

from jaxlm.data import Examples, Tokenizer, flatten


def next_token_pieces(tokens: np.ndarray, length: int, bos: int | None, eos: int) -> list[dict[str, np.ndarray]]:
    """[BOS] tokens [EOS] as (inputs, targets) pieces of at most `length`."""
    sequence = np.concatenate([[] if bos is None else [bos], tokens, [eos]]).astype(np.int32)
    inputs, targets = sequence[:-1], sequence[1:]
    return [
        {"inputs": inputs[start : start + length], "targets": targets[start : start + length]}
        for start in range(0, len(inputs), length)
    ]


def _packed_row(row: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    segments = row["inputs_segment_ids"].astype(np.int32)
    return {"inputs": row["inputs"], "targets": row["targets"], "segments": segments,
            "positions": row["inputs_positions"].astype(np.int32), "weights": (segments > 0).astype(np.float32)}


class CausalLMExamples(Examples):
    """Records are documents (text); each gives its next-token pieces, packed into rows of `length`."""

    def __init__(self, tokenizer: Tokenizer, length: int):
        self.tokenizer, self.length = tokenizer, length
        self.eos = tokenizer.require("eos_id", "data.objective=causal_lm")

    def from_record(self, item: tuple[int, str], rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
        tokens = self.tokenizer.encode(item[1])
        return next_token_pieces(tokens, self.length, self.tokenizer.bos_id, self.eos)

    def from_stream(self, items: grain.IterDataset) -> grain.IterDataset:
        rows = grain.experimental.FirstFitPackIterDataset(
            flatten(items), length_struct={"inputs": self.length, "targets": self.length}, num_packing_bins=1,
            shuffle_bins=False,
        )
        return rows.map(_packed_row)
