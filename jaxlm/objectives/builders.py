"""Where data meets the objectives: a config's records, turned into its objective's examples by the loader.

    loader = make_loader(cfg, "train", tokenizer=tokenizer)   # iterator of this process's numpy batches
    state = loader.state(); ...; make_loader(cfg, "train", state=state)   # exact resumption

`make_examples(cfg, tokenizer, records)` picks the objective's `jaxlm.data.Examples` (its grain
stages); each row holds exactly the batch keys of that objective (docs/ARCHITECTURE.md) without
the batch dimension. The wiring lives here, above `jaxlm.data`, so data never imports objectives.
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxlm.config import Config, ConfigError
from jaxlm.data import Examples, Loader, Tokenizer, load_tokenizer, open_records, train_batches, validation_batches
from jaxlm.errors import JaxlmError
from jaxlm.objectives.bert import BertExamples, BertRecipe
from jaxlm.objectives.causal_lm import CausalLMExamples
from jaxlm.objectives.classification import ClassificationExamples
from jaxlm.objectives.seq2seq import Seq2SeqExamples
from jaxlm.objectives.span_corruption import SpanCorruptionExamples, random_spans_helper


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


def make_examples(cfg: Config, tokenizer: Tokenizer, records: Sequence) -> Examples:
    """The grain stages of `cfg.data.objective` over `records` (BERT draws its NSP negatives from them)."""
    data = cfg.data
    if data.objective == "mlm_nsp":
        return BertExamples(bert_recipe(cfg, tokenizer), tokenizer, records, data.seed)
    if data.objective == "causal_lm":
        return CausalLMExamples(tokenizer, data.seq_length)
    if data.objective == "span_corruption":
        return SpanCorruptionExamples(tokenizer, data.seq_length, target_length(cfg), data.noise_density,
                                      data.mean_noise_span_length, cfg.model.pad_id, data.seed)
    if data.objective == "seq2seq":
        return Seq2SeqExamples(tokenizer, data.seq_length, target_length(cfg), cfg.model.pad_id)
    return ClassificationExamples(tokenizer, data.seq_length)


def make_loader(
    cfg: Config, split: str = "train", *, process_index: int | None = None, process_count: int | None = None,
    state: dict | None = None, tokenizer: Tokenizer | None = None,
) -> Loader:
    """This process's batches of `split` (`data.batch_size // process_count` rows each). Process
    index/count default to `jax.process_index()` / `jax.process_count()`."""
    if process_index is None or process_count is None:
        import jax

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if cfg.data.batch_size % process_count:
        raise JaxlmError(
            f"data.batch_size: {cfg.data.batch_size} rows do not split over {process_count} processes; "
            "use a multiple of the process count"
        )
    longest = max(cfg.data.seq_length, cfg.data.target_length)
    if cfg.model.position == "learned" and longest > cfg.model.max_length:
        raise ConfigError(
            f"data.seq_length: {longest} tokens exceed the learned position table "
            f"(model.max_length={cfg.model.max_length}); shorten the sequences or raise model.max_length"
        )
    tokenizer = tokenizer or load_tokenizer(cfg)
    records = open_records(cfg.data, split)
    examples = make_examples(cfg, tokenizer, records)
    where = {"batch_size": cfg.data.batch_size // process_count, "seed": cfg.data.seed,
             "process_index": process_index, "process_count": process_count, "prefetch": cfg.data.prefetch}
    workers = cfg.data.workers if split == "train" else 0
    if split == "train":
        stream = train_batches(records, examples, workers=workers, **where)
    else:
        stream = validation_batches(records, examples, **where)
    return Loader(stream, split=split, process_index=process_index, process_count=process_count, workers=workers,
                  state=state, tokenizer=tokenizer)
