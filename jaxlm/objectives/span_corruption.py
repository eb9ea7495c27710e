"""T5 span corruption (Raffel et al. 2020, the T5 codebase's span_corruption preprocessor).

Noise mask over a chunk of n tokens: k = round(n · noise_density) noise tokens (clipped to
[1, n-1]) in s = max(1, round(k / mean_noise_span_length)) spans; both the k noise tokens and the
n - k others are split into s non-empty spans by a random segmentation, and the spans alternate
starting with non-noise: N_0 X_0 N_1 X_1 … N_{s-1} X_{s-1}. With sentinel_i = V - 1 - i:

    inputs  = N_0 sentinel_0 N_1 sentinel_1 … N_{s-1} sentinel_{s-1} EOS
    targets = sentinel_0 X_0 sentinel_1 X_1 … sentinel_{s-1} X_{s-1} EOS

`random_spans_helper` picks the raw chunk length whose corrupted inputs fill `inputs_length`, as
T5's helper does (inputs 512 ↔ raw 568, targets 114 at density 0.15 and mean span 3; at density
0.5 it trims one raw token when the targets would come out longer than the inputs: 766, 512).

In the loader, as in T5 (select_random_chunk → reduce_concat_tokens → split_tokens → denoise),
the documents of the stream are tokenized and concatenated, then cut into raw chunks of exactly
that length (grain's concatenate-then-split), so every example is full; only a finite pass
(validation) ends in a shorter chunk.
"""

from __future__ import annotations

from collections.abc import Callable

import grain
import numpy as np

from jaxlm.data import Examples, Tokenizer
from jaxlm.objectives.seq2seq import encoder_decoder_example


def corrupted_lengths(raw_length: int, noise_density: float, mean_span: float) -> tuple[int, int]:
    """(inputs, targets) lengths, each with one EOS, of a corrupted chunk of `raw_length` tokens."""
    noise = round(raw_length * noise_density)
    spans = round(noise / mean_span)
    return raw_length - noise + spans + 1, noise + spans + 1


def random_spans_helper(inputs_length: int, noise_density: float, mean_span: float) -> tuple[int, int]:
    """T5's raw chunk length for `inputs_length` and its targets length: the largest raw length
    whose corrupted inputs fit, less one at density 0.5 if its targets would exceed the inputs."""
    raw = inputs_length - 1
    while corrupted_lengths(raw + 1, noise_density, mean_span)[0] <= inputs_length:
        raw += 1
    inputs, targets = corrupted_lengths(raw, noise_density, mean_span)
    if noise_density == 0.5 and targets > inputs:
        return raw - 1, targets - 1
    return raw, targets


def _segment_lengths(items: int, segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split `items` into `segments` non-empty runs uniformly at random; their lengths."""
    cuts = np.sort(rng.choice(np.arange(1, items), size=segments - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [items]]))


def noise_and_spans(length: int, noise_density: float, mean_span: float) -> tuple[int, int]:
    """Noise tokens k and spans s of a chunk of `length` ≥ 2 tokens (the formulas above)."""
    noise = min(max(round(length * noise_density), 1), length - 1)
    return noise, min(max(round(noise / mean_span), 1), noise, length - noise)


def noise_mask(length: int, noise_density: float, mean_span: float, rng: np.random.Generator) -> np.ndarray:
    """[length] bool, True on noise tokens; spans alternate starting with non-noise. Needs length ≥ 2."""
    noise, spans = noise_and_spans(length, noise_density, mean_span)
    noise_lengths = _segment_lengths(noise, spans, rng)
    keep_lengths = _segment_lengths(length - noise, spans, rng)
    mask = np.zeros(length, bool)
    start = 0
    for keep, drop in zip(keep_lengths, noise_lengths, strict=True):
        start += keep
        mask[start : start + drop] = True
        start += drop
    return mask


def corrupt(
    tokens: np.ndarray, mask: np.ndarray, sentinel: Callable[[int], int], eos: int
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) of `tokens` under noise `mask`, each ending in EOS."""
    inputs, targets, span = [], [], -1
    for index, (token, is_noise) in enumerate(zip(tokens, mask, strict=True)):
        if is_noise and (index == 0 or not mask[index - 1]):
            span += 1
            inputs.append(sentinel(span))
            targets.append(sentinel(span))
        (targets if is_noise else inputs).append(int(token))
    return np.asarray([*inputs, eos], np.int32), np.asarray([*targets, eos], np.int32)


class SpanCorruptionExamples(Examples):
    """Records are documents (text); the stream's tokens are concatenated, cut into raw chunks and corrupted."""

    def __init__(
        self, tokenizer: Tokenizer, inputs_length: int, targets_length: int, noise_density: float, mean_span: float,
        decoder_start: int, seed: int,
    ):
        self.tokenizer, self.inputs_length, self.targets_length = tokenizer, inputs_length, targets_length
        self.noise_density, self.mean_span, self.seed = noise_density, mean_span, seed
        self.decoder_start = decoder_start
        self.raw_length, _ = random_spans_helper(inputs_length, noise_density, mean_span)
        self.eos = tokenizer.require("eos_id", "data.objective=span_corruption")
        _, spans = noise_and_spans(self.raw_length, noise_density, mean_span)
        tokenizer.sentinel(spans - 1)  # a full chunk needs this many sentinels: fail now, not mid-training

    def from_record(self, item: tuple[int, str], rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        tokens = self.tokenizer.encode(item[1])
        return {"tokens": tokens} if len(tokens) else None

    def corrupt_chunk(self, chunk: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        tokens = chunk["tokens"][chunk["tokens_segment_ids"] > 0]
        mask = noise_mask(len(tokens), self.noise_density, self.mean_span, rng)
        inputs, targets = corrupt(tokens, mask, self.tokenizer.sentinel, self.eos)
        return encoder_decoder_example(inputs, targets, self.inputs_length, self.targets_length, self.decoder_start)

    def from_stream(self, items: grain.IterDataset) -> grain.IterDataset:
        chunks = grain.experimental.ConcatThenSplitIterDataset(items, length_struct={"tokens": self.raw_length})
        return chunks.filter(_corruptible).random_map(self.corrupt_chunk, seed=self.seed)


def _corruptible(chunk: dict[str, np.ndarray]) -> bool:
    """A chunk needs a noise and a non-noise token (only the last chunk of a finite pass can be shorter)."""
    return int(np.sum(chunk["tokens_segment_ids"] > 0)) >= 2
