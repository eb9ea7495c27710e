"""Example builders: records of one loader window → a list of example rows (numpy).

`make_example_builder(cfg, tokenizer)` returns `build(records, rng) -> list[dict[str, ndarray]]`
for `cfg.data.objective`; each row holds exactly the batch keys of that objective
(docs/ARCHITECTURE.md) without the batch dimension. Records are those of `jaxlm.data.sources`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from jaxlm.config import Config, ConfigError
from jaxlm.data.text import sentences
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.objectives.bert import BertRecipe, document_instances
from jaxlm.objectives.causal_lm import causal_lm_examples
from jaxlm.objectives.classification import classification_examples
from jaxlm.objectives.seq2seq import seq2seq_examples
from jaxlm.objectives.span_corruption import random_spans_helper, span_corruption_examples

Builder = Callable[[Sequence, np.random.Generator], list[dict]]


def bert_recipe(cfg: Config, tokenizer: Tokenizer) -> BertRecipe:
    data, purpose = cfg.data, "data.objective=mlm_nsp"
    random_low, random_high = tokenizer.learned_range()
    return BertRecipe(
        seq_length=data.seq_length, max_predictions=data.resolved_max_predictions, vocab_size=tokenizer.vocab_size,
        cls_id=tokenizer.require("cls_id", purpose), sep_id=tokenizer.require("sep_id", purpose),
        mask_id=tokenizer.require("mask_id", purpose), random_low=random_low, random_high=random_high,
        masked_lm_prob=data.masked_lm_prob, short_seq_prob=data.short_seq_prob,
        word_starts=tokenizer.word_starts() if data.whole_word_masking else None,
    )


def check_sentinels(cfg: Config, tokenizer: Tokenizer) -> None:
    """Span corruption of the longest chunk needs this many sentinels; say so now, not mid-training."""
    raw, _ = random_spans_helper(cfg.data.seq_length, cfg.data.noise_density, cfg.data.mean_noise_span_length)
    spans = max(1, round(round(raw * cfg.data.noise_density) / cfg.data.mean_noise_span_length))
    tokenizer.sentinel(spans - 1)


def target_length(cfg: Config) -> int:
    """Decoder length: data.target_length, or derived (T5's helper for span corruption, else seq_length)."""
    data = cfg.data
    if data.objective != "span_corruption":
        return data.target_length or data.seq_length
    _, needed = random_spans_helper(data.seq_length, data.noise_density, data.mean_noise_span_length)
    if data.target_length and data.target_length < needed:
        raise ConfigError(
            f"data.target_length: {data.target_length} is shorter than the {needed} targets of span corruption "
            f"at seq_length={data.seq_length}; set data.target_length={needed} (or 0 to derive it)"
        )
    return data.target_length or needed


def make_example_builder(cfg: Config, tokenizer: Tokenizer) -> Builder:
    """The window → examples function of `cfg.data.objective`."""
    data = cfg.data
    if data.objective == "mlm_nsp":
        recipe = bert_recipe(cfg, tokenizer)

        def build(records, rng):
            docs = [tokenizer.encode_batch(sentences(text)) for text in records]
            examples = [ex for i in range(len(docs)) for ex in document_instances(docs, i, recipe, rng)]
            return [examples[i] for i in rng.permutation(len(examples))]

        return build
    if data.objective == "causal_lm":
        eos = tokenizer.require("eos_id", "data.objective=causal_lm")
        return lambda records, rng: causal_lm_examples(
            tokenizer.encode_batch(records), data.seq_length, tokenizer.bos_id, eos, rng
        )
    decoder_start = cfg.model.pad_id
    if data.objective == "span_corruption":
        targets, eos = target_length(cfg), tokenizer.require("eos_id", "data.objective=span_corruption")
        check_sentinels(cfg, tokenizer)
        return lambda records, rng: span_corruption_examples(
            tokenizer.encode_batch(records), data.seq_length, targets, data.noise_density,
            data.mean_noise_span_length, tokenizer.sentinel, eos, decoder_start, rng,
        )
    if data.objective == "seq2seq":
        targets, eos = target_length(cfg), tokenizer.require("eos_id", "data.objective=seq2seq")

        def build_pairs(records, rng):
            sources = tokenizer.encode_batch([source for source, _ in records])
            outputs = tokenizer.encode_batch([target for _, target in records])
            return seq2seq_examples(list(zip(sources, outputs, strict=True)), data.seq_length, targets,
                                    eos, decoder_start, rng)

        return build_pairs
    purpose = "data.objective=classification"
    cls_id, sep_id = tokenizer.require("cls_id", purpose), tokenizer.require("sep_id", purpose)
    return lambda records, rng: classification_examples(
        tokenizer.encode_batch([text for _, text in records]), [label for label, _ in records], data.seq_length,
        cls_id, sep_id, rng,
    )
