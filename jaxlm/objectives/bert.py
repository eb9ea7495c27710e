"""BERT pretraining instances (MLM + NSP), following google-research/bert create_pretraining_data.

A document is a list of sentences (token-id arrays). Per document:
- target length T = seq_length - 3; with probability short_seq_prob, T ~ U{2 … seq_length - 3}.
- Sentences are gathered into a chunk until it holds ≥ T tokens (or the document ends). Segment A
  is the first a_end ~ U{1 … len(chunk) - 1} sentences of the chunk (1 when the chunk has one).
- A chunk of one sentence is cut at a random token into two pieces. (Departure from the original,
  which always pairs such a chunk with a random B: long sentences and document ends then push the
  NSP negative rate to 54-57 % on the embedded corpus; with the cut it is 50 %.)
- NSP: with p = 0.5 (always for a chunk of one token) B is read from a random start in a random
  *other* document of the whole corpus until it holds T - |A| tokens (label 1 = random next), and
  the unused sentences of the chunk are put back (the rest of a cut sentence is dropped);
  otherwise B is the rest of the chunk (label 0).
- Pair truncation: while |A| + |B| > T, drop one token from the longer side, from the front or the
  back with p = 0.5 each.
- Tokens: [CLS] A [SEP] B [SEP]; token types 0 for [CLS] A [SEP], 1 for B [SEP].
- Masking: candidates are every position but [CLS]/[SEP] (whole words — a '▁' piece and its
  continuations — with whole_word_masking); n = min(max_predictions, max(1, round(len · p))) with
  p = masked_lm_prob (0.15); candidates are visited in random order and chosen until n positions are
  taken (a whole word that would overshoot n is skipped); each chosen token becomes [MASK] with
  p = 0.8, stays with p = 0.1, becomes a random learned piece with p = 0.1.

In the loader (`BertExamples`) each document's instances are built in a worker thread; the random
document behind a negative is read from the source by index (random access), tokenized from its
random start sentence only as far as needed. The instances are then shuffled in windows of
SHUFFLE_WINDOW, as the original shuffles all its instances.

Shapes of one example: inputs, token_types, segments [L]; mlm_positions, mlm_targets [P] int32 and
mlm_weights [P] float32 (padding has weight 0); nsp_labels [] (L = seq_length, P = max_predictions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import grain
import numpy as np

from jaxlm.data import Examples, Tokenizer, flatten
from jaxlm.data.text import sentences
from jaxlm.errors import JaxlmError

Document = Sequence[np.ndarray]
SHUFFLE_WINDOW = 256


@dataclasses.dataclass(frozen=True)
class BertRecipe:
    seq_length: int
    max_predictions: int
    vocab_size: int
    cls_id: int
    sep_id: int
    mask_id: int
    random_low: int
    random_high: int
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    word_starts: np.ndarray | None = None


def truncate_pair(a: list[int], b: list[int], max_tokens: int, rng: np.random.Generator) -> None:
    """Trim the longer of `a`, `b` (in place) one token at a time, front or back at random."""
    while len(a) + len(b) > max_tokens:
        longer = a if len(a) > len(b) else b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def _candidate_groups(tokens: list[int], recipe: BertRecipe) -> list[list[int]]:
    groups: list[list[int]] = []
    for index, token in enumerate(tokens):
        if token in (recipe.cls_id, recipe.sep_id):
            continue
        continues_word = recipe.word_starts is not None and not recipe.word_starts[token]
        if continues_word and groups and groups[-1][-1] == index - 1:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def mask_tokens(
    tokens: list[int], recipe: BertRecipe, rng: np.random.Generator
) -> tuple[list[int], list[int], list[int]]:
    """Apply BERT masking to `tokens`; returns (masked tokens, sorted positions, original ids)."""
    groups = _candidate_groups(tokens, recipe)
    order = rng.permutation(len(groups))
    wanted = min(recipe.max_predictions, max(1, round(len(tokens) * recipe.masked_lm_prob)))
    chosen: list[int] = []
    for g in order:
        if len(chosen) >= wanted:
            break
        if len(chosen) + len(groups[g]) > wanted:
            continue
        chosen.extend(groups[g])
    chosen.sort()
    masked = list(tokens)
    for index in chosen:
        draw = rng.random()
        if draw < 0.8:
            masked[index] = recipe.mask_id
        elif draw >= 0.9:
            masked[index] = int(rng.integers(recipe.random_low, recipe.random_high))
    return masked, chosen, [tokens[i] for i in chosen]


def _example(a: list[int], b: list[int], is_random: bool, recipe: BertRecipe, rng: np.random.Generator) -> dict:
    tokens = [recipe.cls_id, *a, recipe.sep_id, *b, recipe.sep_id]
    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    masked, positions, targets = mask_tokens(tokens, recipe, rng)
    length, predictions = recipe.seq_length, recipe.max_predictions
    out = {
        "inputs": np.zeros(length, np.int32), "token_types": np.zeros(length, np.int32),
        "segments": np.zeros(length, np.int32), "mlm_positions": np.zeros(predictions, np.int32),
        "mlm_targets": np.zeros(predictions, np.int32), "mlm_weights": np.zeros(predictions, np.float32),
        "nsp_labels": np.int32(is_random),
    }
    out["inputs"][: len(tokens)] = masked
    out["token_types"][: len(tokens)] = types
    out["segments"][: len(tokens)] = 1
    out["mlm_positions"][: len(positions)] = positions
    out["mlm_targets"][: len(positions)] = targets
    out["mlm_weights"][: len(positions)] = 1.0
    return out


def _flatten(sentences: Sequence[np.ndarray]) -> list[int]:
    return [int(t) for s in sentences for t in s]


def document_instances(
    document: Document, recipe: BertRecipe, rng: np.random.Generator, random_segment: Callable[[int], list[int]]
) -> list[dict]:
    """All instances of `document`; `random_segment(n)` gives about n tokens of a random other
    document (the B of an NSP negative)."""
    document = [s for s in document if len(s)]
    max_tokens = recipe.seq_length - 3
    target = max_tokens
    if rng.random() < recipe.short_seq_prob:
        target = int(rng.integers(2, max_tokens + 1)) if max_tokens >= 2 else max_tokens
    instances, chunk, chunk_length, i = [], [], 0, 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target:
            cut = len(chunk) == 1 and chunk_length >= 2
            if cut:
                at = int(rng.integers(1, chunk_length))
                chunk = [chunk[0][:at], chunk[0][at:]]
            a_end = int(rng.integers(1, len(chunk))) if len(chunk) >= 2 else 1
            a = _flatten(chunk[:a_end])
            is_random = len(chunk) == 1 or rng.random() < 0.5
            if is_random:
                b = random_segment(target - len(a))
                i -= 0 if cut else len(chunk) - a_end
            else:
                b = _flatten(chunk[a_end:])
            truncate_pair(a, b, max_tokens, rng)
            if a and b:
                instances.append(_example(a, b, is_random, recipe, rng))
            chunk, chunk_length = [], 0
        i += 1
    return instances


class BertExamples(Examples):
    """Records are documents (text); each gives its instances, negatives from the whole `records`."""

    def __init__(self, recipe: BertRecipe, tokenizer: Tokenizer, records: Sequence[str], seed: int):
        if len(records) < 2:
            raise JaxlmError(
                f"data: mlm_nsp draws NSP negatives from other documents but a split has {len(records)}; "
                "give more text or change data.validation_fraction"
            )
        self.recipe, self.tokenizer, self.records, self.seed = recipe, tokenizer, records, seed

    def from_record(self, item: tuple[int, str], rng: np.random.Generator) -> list[dict] | None:
        index, text = item
        document = self.tokenizer.encode_batch(sentences(text))
        instances = document_instances(document, self.recipe, rng, lambda n: self.random_segment(index, n, rng))
        return instances or None

    def random_segment(self, index: int, length: int, rng: np.random.Generator) -> list[int]:
        """Sentences from a random start of a random document other than `index`, until `length` tokens."""
        other = int(rng.integers(len(self.records) - 1))
        document = sentences(self.records[other + (other >= index)])
        start = int(rng.integers(len(document))) if document else 0
        tokens: list[int] = []
        for sentence in document[start:]:
            tokens.extend(int(t) for t in self.tokenizer.encode(sentence))
            if len(tokens) >= length:
                break
        return tokens

    def from_stream(self, items: grain.IterDataset) -> grain.IterDataset:
        return grain.experimental.WindowShuffleIterDataset(flatten(items), window_size=SHUFFLE_WINDOW, seed=self.seed)
