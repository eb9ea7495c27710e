"""Sentence classification examples (GLUE-style): [CLS] text [SEP] with its integer label.

One example: inputs, token_types (all 0), segments (1 on real tokens) [L] int32; labels [] int32.
The text is truncated to L - 2 tokens.
"""

from __future__ import annotations

import numpy as np

from jaxlm.data import Examples, Tokenizer


class ClassificationExamples(Examples):
    """Records are (label, text); each gives one row of `length`."""

    def __init__(self, tokenizer: Tokenizer, length: int):
        self.tokenizer, self.length = tokenizer, length
        purpose = "data.objective=classification"
        self.cls_id, self.sep_id = tokenizer.require("cls_id", purpose), tokenizer.require("sep_id", purpose)

    def from_record(self, item: tuple[int, tuple[int, str]], rng: np.random.Generator) -> dict[str, np.ndarray]:
        label, text = item[1]
        tokens = self.tokenizer.encode(text)[: self.length - 2]
        row = np.concatenate([[self.cls_id], tokens, [self.sep_id]]).astype(np.int32)
        example = {"inputs": np.zeros(self.length, np.int32), "token_types": np.zeros(self.length, np.int32),
                   "segments": np.zeros(self.length, np.int32), "labels": np.int32(label)}
        example["inputs"][: len(row)] = row
        example["segments"][: len(row)] = 1
        return example
