"""Entry points: the tokenizer of a config and its loader.

    tokenizer = load_tokenizer(cfg)                # data.tokenizer_path, or ours trained once and cached
    loader = make_loader(cfg, "train")             # iterator of this process's numpy batches
    state = loader.state(); ...; make_loader(cfg, "train", state=state)   # exact resumption

The loader is where data meets the objectives: it asks `jaxlm.objectives.builders` for the
objective's example builder, imported inside `make_loader` so the rest of `jaxlm.data` stays
free of the layer above it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

from jaxlm.config import Config, ConfigError, DataConfig
from jaxlm.data.embedded import corpus_fingerprint
from jaxlm.data.loader import Loader
from jaxlm.data.sources import cache_dir, open_records
from jaxlm.data.text import sentences, text_files
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.data.tokenizer_files import open_tokenizer
from jaxlm.data.tokenizer_training import cached_tokenizer
from jaxlm.errors import JaxlmError

MAX_TOKENIZER_RECORDS = 100_000


def source_fingerprint(cfg: DataConfig) -> str:
    """What the tokenizer's cache key says about the training text."""
    if cfg.source == "embedded":
        return f"embedded:{corpus_fingerprint()}:{cfg.validation_fraction}"
    if cfg.source == "tfds":
        return f"tfds:{cfg.tfds_name}:{cfg.objective}:{cfg.text_key}:{cfg.source_key}:{cfg.target_key}"
    from jaxlm.data.local_text import source_hash

    return f"local:{cfg.objective}:{source_hash(text_files(cfg.path), cfg.validation_fraction)}"


def training_texts(cfg: DataConfig) -> Iterator[str]:
    """Sentences of (at most MAX_TOKENIZER_RECORDS) train records: the tokenizer's training text."""
    records = open_records(cfg, "train")
    for record in itertools.islice(records, MAX_TOKENIZER_RECORDS):
        if cfg.objective == "classification":
            yield record[1]
        elif cfg.objective == "seq2seq":
            yield from record
        else:
            yield from sentences(record)


def source_name(cfg: DataConfig) -> str:
    """The training text, as errors name it."""
    return {"embedded": "the embedded corpus", "local": f"data.path={cfg.path}",
            "tfds": f"data.tfds_name={cfg.tfds_name}"}[cfg.source]


def load_tokenizer(cfg: Config, *, progress: Callable[[Iterable[str]], Iterable[str]] | None = None) -> Tokenizer:
    """`data.tokenizer_path` if set, else our sentencepiece model trained on the train split and
    cached (`progress` wraps the training sentences, e.g. in tqdm, when it has to train); checked
    against the model (`Tokenizer.check_fits`)."""
    if cfg.data.tokenizer_path:
        tokenizer = open_tokenizer(cfg.data.tokenizer_path)
    else:
        texts = training_texts(cfg.data)
        texts = progress(texts) if progress else texts
        tokenizer = cached_tokenizer(cache_dir(), source_fingerprint(cfg.data), cfg.model.vocab_size,
                                     cfg.data.tokenizer, texts, source_name(cfg.data))
    tokenizer.check_fits(cfg.model)
    return tokenizer


def make_loader(
    cfg: Config, split: str = "train", *, process_index: int | None = None, process_count: int | None = None,
    state: dict | None = None, tokenizer: Tokenizer | None = None,
) -> Loader:
    """This process's batches of `split` (`data.batch_size // process_count` rows each). Process
    index/count default to `jax.process_index()` / `jax.process_count()`."""
    from jaxlm.objectives.builders import make_example_builder

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
    loader = Loader(
        open_records(cfg.data, split), make_example_builder(cfg, tokenizer),
        batch_size=cfg.data.batch_size // process_count, seed=cfg.data.seed, split=split,
        process_index=process_index, process_count=process_count, prefetch=cfg.data.prefetch, state=state,
    )
    loader.tokenizer = tokenizer
    return loader
