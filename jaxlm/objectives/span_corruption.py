"""T5 span corruption (Raffel et al. 2020, the T5 codebase's span_corruption preprocessor).

Noise mask over a chunk of n tokens: k = round(n · noise_density) noise tokens (clipped to
[1, n-1]) in s = max(1, round(k / mean_noise_span_length)) spans; both the k noise tokens and the
n - k others are split into s non-empty spans by a random segmentation, and the spans alternate
starting with non-noise: N_0 X_0 N_1 X_1 … N_{s-1} X_{s-1}. With sentinel_i = V - 1 - i:

    inputs  = N_0 sentinel_0 N_1 sentinel_1 … N_{s-1} sentinel_{s-1} EOS
    targets = sentinel_0 X_0 sentinel_1 X_1 … sentinel_{s-1} X_{s-1} EOS

`random_spans_helper` picks the raw chunk length whose corrupted inputs fill `inputs_length`
exactly (T5's helper: inputs 512 ↔ raw 568, targets 114, at density 0.15 and mean span 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from jaxlm.objectives.seq2seq import encoder_decoder_example


def corrupted_lengths(raw_length: int, noise_density: float, mean_span: float) -> tuple[int, int]:
    """(inputs, targets) lengths, each with one EOS, of a corrupted chunk of `raw_length` tokens."""
    noise = round(raw_length * noise_density)
    spans = round(noise / mean_span)
    return raw_length - noise + spans + 1, noise + spans + 1


def random_spans_helper(inputs_length: int, noise_density: float, mean_span: float) -> tuple[int, int]:
    """The largest raw chunk length whose corrupted inputs fit `inputs_length`, and its targets length."""
    raw = inputs_length - 1
    while corrupted_lengths(raw + 1, noise_density, mean_span)[0] <= inputs_length:
        raw += 1
    return raw, corrupted_lengths(raw, noise_density, mean_span)[1]


def _segment_lengths(items: int, segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split `items` into `segments` non-empty runs uniformly at random; their lengths."""
    cuts = np.sort(rng.choice(np.arange(1, items), size=segments - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [items]]))


def noise_mask(length: int, noise_density: float, mean_span: float, rng: np.random.Generator) -> np.ndarray:
    """[length] bool, True on noise tokens; spans alternate starting with non-noise. Needs length ≥ 2."""
    noise = min(max(round(length * noise_density), 1), length - 1)
    spans = min(max(round(noise / mean_span), 1), noise, length - noise)
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


def span_corruption_examples(
    documents: Sequence[np.ndarray], inputs_length: int, targets_length: int, noise_density: float,
    mean_span: float, sentinel: Callable[[int], int], eos: int, decoder_start: int, rng: np.random.Generator,
) -> list[dict[str, np.ndarray]]:
    """Each document cut into raw chunks (`random_spans_helper` length), corrupted, padded; shuffled."""
    raw, _ = random_spans_helper(inputs_length, noise_density, mean_span)
    examples = []
    for doc in documents:
        for start in range(0, len(doc), raw):
            chunk = doc[start : start + raw]
            if len(chunk) < 2:
                continue
            inputs, targets = corrupt(chunk, noise_mask(len(chunk), noise_density, mean_span, rng), sentinel, eos)
            examples.append(encoder_decoder_example(inputs, targets, inputs_length, targets_length, decoder_start))
    return [examples[i] for i in rng.permutation(len(examples))]
