"""Sentence classification examples (GLUE-style): [CLS] text [SEP] with its integer label.

One example: inputs, token_types (all 0), segments (1 on real tokens) [L] int32; labels [] int32.
The text is truncated to L - 2 tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def classification_examples(
    texts: Sequence[np.ndarray], labels: Sequence[int], length: int, cls_id: int, sep_id: int,
    rng: np.random.Generator,
) -> list[dict]:
    """Rows for tokenized `texts` with their `labels`, in random order."""
    examples = []
    for tokens, label in zip(texts, labels, strict=True):
        row = np.concatenate([[cls_id], tokens[: length - 2], [sep_id]]).astype(np.int32)
        example = {"inputs": np.zeros(length, np.int32), "token_types": np.zeros(length, np.int32),
                   "segments": np.zeros(length, np.int32), "labels": np.int32(label)}
        example["inputs"][: len(row)] = row
        example["segments"][: len(row)] = 1
        examples.append(example)
    return [examples[i] for i in rng.permutation(len(examples))]
