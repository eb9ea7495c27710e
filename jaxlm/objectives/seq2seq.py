"""Sequence-to-sequence examples (translation pairs, and the layout span corruption shares).

A pair (source ids, target ids) becomes, with L_s = seq_length and L_t = target_length:
    inputs = source[:L_s-1] + [EOS]            padded to L_s; segments 1 / 0; positions 0…
    targets = target[:L_t-1] + [EOS]           padded to L_t
    decoder_inputs = [start] + targets[:-1]    (start: the decoder start id, model.pad_id as in T5)
    weights = 1.0 on real target tokens
"""

from __future__ import annotations

import numpy as np

from jaxlm.data import Examples, Tokenizer


def _padded(values: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length, np.int32)
    out[: len(values)] = values
    return out


def encoder_decoder_example(
    inputs: np.ndarray, targets: np.ndarray, inputs_length: int, targets_length: int, decoder_start: int
) -> dict:
    """Pad an (inputs, targets) pair into the encoder-decoder batch row."""
    n, m = len(inputs), len(targets)
    decoder_inputs = np.concatenate([[decoder_start], targets[:-1]])
    return {
        "inputs": _padded(inputs, inputs_length),
        "segments": _padded(np.ones(n), inputs_length),
        "positions": _padded(np.arange(n), inputs_length),
        "decoder_inputs": _padded(decoder_inputs, targets_length),
        "targets": _padded(targets, targets_length),
        "decoder_segments": _padded(np.ones(m), targets_length),
        "decoder_positions": _padded(np.arange(m), targets_length),
        "weights": _padded(np.ones(m), targets_length).astype(np.float32),
    }


class Seq2SeqExamples(Examples):
    """Records are (source, target) text pairs; each gives one truncated, EOS-terminated, padded row;
    the decoder starts from `decoder_start`."""

    def __init__(self, tokenizer: Tokenizer, inputs_length: int, targets_length: int, decoder_start: int):
        self.tokenizer, self.inputs_length, self.targets_length = tokenizer, inputs_length, targets_length
        self.eos, self.decoder_start = tokenizer.require("eos_id", "data.objective=seq2seq"), decoder_start

    def from_record(self, item: tuple[int, tuple[str, str]], rng: np.random.Generator) -> dict[str, np.ndarray]:
        source, target = self.tokenizer.encode_batch(list(item[1]))
        return encoder_decoder_example(
            np.append(source[: self.inputs_length - 1], self.eos),
            np.append(target[: self.targets_length - 1], self.eos),
            self.inputs_length, self.targets_length, self.decoder_start,
        )
