"""Record sources by split: random-access sequences of documents, labelled texts or text pairs.

    records = open_records(cfg.data, "train")   # len(records), records[i]

| objective | record |
|---|---|
| mlm_nsp, causal_lm, span_corruption | `str` (one document) |
| classification | `(label: int, text: str)` |
| seq2seq | `(source: str, target: str)` |

Sources: 'embedded' (in memory, see `embedded.py`), 'local' (a text file or folder through our
TFDS builder, falling back to in-memory reading when tensorflow_datasets is absent; for
classification a `label<TAB>text` file, for seq2seq a `source<TAB>target` file, read in memory),
'tfds' (a dataset by name, prepared by TFDS then read with `as_data_source`; TFDS's own text
datasets are registered first, which TFDS without TensorFlow does not do; a dataset with only
'train' gives its first `validation_fraction` to 'validation'; imported lazily).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

from jaxlm.config import DataConfig
from jaxlm.data.embedded import embedded_documents
from jaxlm.data.text import file_documents, is_validation, text_files
from jaxlm.errors import JaxlmError
from jaxlm.paths import writable_directory

SPLITS = ("train", "validation")
TFDS_TEXT_CATEGORIES = ("text", "translate", "summarization", "question_answering", "text_simplification")


def cache_dir() -> pathlib.Path:
    """Where prepared data and tokenizers live: $JAXLM_CACHE, default ~/.cache/jaxlm (created, and
    checked to be writable)."""
    path = os.environ.get("JAXLM_CACHE", "~/.cache/jaxlm")
    return writable_directory(path, "JAXLM_CACHE", "set JAXLM_CACHE to a writable directory")


class MappedRecords(Sequence):
    """A lazy `convert(base[i])` view over a random-access source."""

    def __init__(self, base: Sequence, convert: Callable[[Any], Any]):
        self.base, self.convert = base, convert

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"record {index} of {len(self)}")
        return self.convert(self.base[index % len(self)])

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def tfds_available() -> bool:
    """Whether tensorflow_datasets can be imported (it is absent on some machines)."""
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        return False
    return True


def _split_in_memory(items: list, split: str, fraction: float) -> list:
    return [item for i, item in enumerate(items) if (split == "validation") == is_validation(i, fraction)]


def _decode(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _read_tsv(cfg: DataConfig, split: str, parse: Callable[[str, str], Any]) -> list:
    rows = []
    for file in text_files(cfg.path):
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            first, tab, second = line.partition("\t")
            if not tab:
                raise JaxlmError(f"data.path: {file}:{number} has no TAB; expected two tab-separated fields")
            rows.append(parse(first.strip(), second.strip()))
    return _split_in_memory(rows, split, cfg.validation_fraction)


def _parse_label(label: str, text: str) -> tuple[int, str]:
    try:
        return int(label), text
    except ValueError:
        raise JaxlmError(f"data.path: label '{label}' is not an integer; lines are label<TAB>text") from None


def _local_documents(cfg: DataConfig, split: str) -> Sequence[str]:
    files = text_files(cfg.path)
    one_per_file = len(files) > 1
    if not tfds_available():
        return _split_in_memory(list(file_documents(files, one_per_file)), split, cfg.validation_fraction)
    from jaxlm.data.local_text import prepare_local_text

    sources = prepare_local_text(files, one_per_file, cfg.validation_fraction, cache_dir())
    return MappedRecords(sources[split], lambda record: _decode(record["text"]))


def _tfds_split(builder: Any, split: str, fraction: float) -> str:
    """`split` itself; else 'test' for validation; else a slice of 'train' (the first
    `fraction` of it validates, the rest trains), e.g. for wikipedia which has only 'train'."""
    splits = builder.info.splits
    held_out = "validation" in splits or "test" in splits
    if split in splits and (split != "train" or held_out):
        return split
    if split == "validation" and "test" in splits:
        return "test"
    percent = round(fraction * 100)
    if "train" not in splits or percent < 1:
        raise JaxlmError(
            f"data.tfds_name: {builder.name} has no '{split}' split (it has {', '.join(splits)}); "
            "set data.validation_fraction >= 0.01 to hold out part of 'train'"
        )
    return f"train[:{percent}%]" if split == "validation" else f"train[{percent}%:]"


def _pick_key(cfg_key: str, features: Any, candidates: tuple[str, ...], what: str, name: str) -> str:
    if cfg_key:
        if cfg_key not in features:
            raise JaxlmError(f"data.{what}: '{cfg_key}' is not a feature of {name} ({', '.join(features)})")
        return cfg_key
    for key in candidates:
        if key in features:
            return key
    raise JaxlmError(f"data.{what}: cannot guess the feature of {name}; set it to one of {', '.join(features)}")


def _register_text_datasets() -> None:
    """Without TensorFlow, TFDS registers its older datasets (c4, glue, wikipedia, wmt, ...) only
    when their category package is imported: import the text ones, so they open by name."""
    for category in TFDS_TEXT_CATEGORIES:
        with contextlib.suppress(ImportError):  # one category failing must not hide the others
            importlib.import_module(f"tensorflow_datasets.{category}")


def _tfds_records(cfg: DataConfig, split: str) -> Sequence:
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise JaxlmError("data.source: tfds needs tensorflow-datasets; pip install tensorflow-datasets") from None
    _register_text_datasets()
    try:
        builder = tfds.builder(cfg.tfds_name, data_dir=cfg.tfds_data_dir or None)
    except Exception as error:  # TFDS raises several types for an unknown or unreachable dataset
        raise JaxlmError(f"data.tfds_name: cannot open '{cfg.tfds_name}': {str(error).splitlines()[0]}") from None
    features, name = builder.info.features, cfg.tfds_name
    builder.download_and_prepare()
    source = builder.as_data_source(_tfds_split(builder, split, cfg.validation_fraction))
    if cfg.objective == "classification":
        text = _pick_key(cfg.text_key, features, ("sentence", "text"), "text_key", name)
        label = _pick_key(cfg.label_key, features, ("label",), "label_key", name)
        return MappedRecords(source, lambda r: (int(r[label]), _decode(r[text])))
    if cfg.objective == "seq2seq":
        keys = builder.info.supervised_keys or ("", "")
        src = _pick_key(cfg.source_key or keys[0], features, (), "source_key", name)
        tgt = _pick_key(cfg.target_key or keys[1], features, (), "target_key", name)
        return MappedRecords(source, lambda r: (_decode(r[src]), _decode(r[tgt])))
    text = _pick_key(cfg.text_key, features, ("text", "sentence", "content", "article"), "text_key", name)
    return MappedRecords(source, lambda r: _decode(r[text]))


def open_records(cfg: DataConfig, split: str) -> Sequence:
    """The records of `split` ('train' or 'validation') for `cfg.source` and `cfg.objective`."""
    if split not in SPLITS:
        raise JaxlmError(f"split '{split}' is not one of {', '.join(SPLITS)}")
    if cfg.source == "embedded":
        records = _split_in_memory(list(embedded_documents()), split, cfg.validation_fraction)
    elif cfg.source == "tfds":
        records = _tfds_records(cfg, split)
    elif cfg.objective == "classification":
        records = _read_tsv(cfg, split, _parse_label)
    elif cfg.objective == "seq2seq":
        records = _read_tsv(cfg, split, lambda source, target: (source, target))
    else:
        records = _local_documents(cfg, split)
    if len(records) == 0:
        where = cfg.path or cfg.tfds_name or "the embedded corpus"
        key = "data.validation_fraction" if split == "validation" else "data.path"
        raise JaxlmError(f"{key}: the {split} split of {where} is empty; give more text or raise the fraction")
    return records
