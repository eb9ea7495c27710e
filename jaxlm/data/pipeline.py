"""Entry point: the tokenizer of a config.

    tokenizer = load_tokenizer(cfg)                # data.tokenizer_path, or ours trained once and cached

A config's loader is `jaxlm.objectives.make_loader`: the objectives wire their examples into
`jaxlm.data.loader`, so data never imports the layer above it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

from jaxlm.config import Config, DataConfig
from jaxlm.data.embedded import corpus_fingerprint
from jaxlm.data.sources import cache_dir, open_records
from jaxlm.data.text import sentences, text_files
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.data.tokenizer_files import open_tokenizer
from jaxlm.data.tokenizer_training import cached_tokenizer

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
