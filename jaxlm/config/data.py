"""The data section: where text comes from, how it is tokenized, and which objective shapes it."""

from __future__ import annotations

import dataclasses
from typing import Literal

from jaxlm.config.schema import require

Objective = Literal["mlm_nsp", "causal_lm", "span_corruption", "seq2seq", "classification"]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """source: 'embedded' (the offline default corpus), 'local' (files under `path`; for
    classification a `label<TAB>text` file, for seq2seq a `source<TAB>target` file) or 'tfds'
    (a registered TFDS dataset named by `tfds_name`, e.g. 'glue/sst2', 'wmt14_translate/de-en').
    tfds_data_dir: where TFDS keeps prepared datasets ('' = TFDS's default, $TFDS_DATA_DIR or
    ~/tensorflow_datasets).
    text_key / source_key / target_key / label_key: TFDS feature names ('' guesses: 'text' or
    'sentence', the dataset's supervised keys, 'label').
    objective: the recipe that turns documents into training examples.
    seq_length: tokens per example (encoder input length for seq2seq objectives);
    target_length: decoder length for seq2seq objectives (0 derives it).
    tokenizer: sentencepiece model type trained on the source ('unigram' or 'bpe'), or
    tokenizer_path: an existing tokenizer to use instead: a Hugging Face tokenizer.json, a
    sentencepiece .model (ours, or T5's spiece.model), or a folder holding one.
    validation_fraction: share of documents a local/embedded source holds out for 'validation'.
    masked_lm_prob, max_predictions (0: round(seq_length * masked_lm_prob)), short_seq_prob,
    whole_word_masking: the BERT recipe. noise_density, mean_noise_span_length: T5 span corruption.
    prefetch: batches prepared ahead by the loader's background thread (grain's thread prefetch).
    workers: processes building the train batches (grain's mp_prefetch; 0 = in this process, with threads);
    the batches depend on it, so a run keeps its value.
    """

    source: Literal["embedded", "local", "tfds"] = "embedded"
    path: str = ""
    tfds_name: str = ""
    tfds_data_dir: str = ""
    text_key: str = ""
    source_key: str = ""
    target_key: str = ""
    label_key: str = ""
    objective: Objective = "causal_lm"
    seq_length: int = 128
    target_length: int = 0
    batch_size: int = 8
    seed: int = 0
    tokenizer: Literal["unigram", "bpe"] = "unigram"
    tokenizer_path: str = ""
    validation_fraction: float = 0.05
    masked_lm_prob: float = 0.15
    max_predictions: int = 0
    short_seq_prob: float = 0.1
    whole_word_masking: bool = False
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0
    prefetch: int = 2
    workers: int = 0

    @property
    def resolved_max_predictions(self) -> int:
        return self.max_predictions or max(1, round(self.seq_length * self.masked_lm_prob))

    def validate(self, prefix: str = "data") -> None:
        require(self.seq_length > 0, f"{prefix}.seq_length", "must be positive")
        require(self.target_length >= 0, f"{prefix}.target_length", "must be >= 0")
        require(self.batch_size > 0, f"{prefix}.batch_size", "must be positive")
        require(self.source != "local" or bool(self.path), f"{prefix}.path", "source=local needs data.path")
        require(
            self.source != "tfds" or bool(self.tfds_name), f"{prefix}.tfds_name", "source=tfds needs data.tfds_name"
        )
        require(
            self.objective != "mlm_nsp" or self.seq_length >= 5, f"{prefix}.seq_length",
            f"{self.seq_length} is too short for [CLS] A [SEP] B [SEP]; use at least 5",
        )
        require(
            self.objective not in ("causal_lm", "span_corruption", "seq2seq") or self.seq_length >= 2,
            f"{prefix}.seq_length", "must be at least 2",
        )
        require(
            self.objective != "seq2seq" or self.source != "embedded", f"{prefix}.source",
            "seq2seq needs pairs: set data.source=local (source<TAB>target file) or tfds (a translation dataset)",
        )
        require(
            self.objective != "classification" or self.source != "embedded", f"{prefix}.source",
            "classification needs labels: set data.source=local (label<TAB>text file) or tfds (e.g. glue/sst2)",
        )
        require(0.0 <= self.validation_fraction < 1.0, f"{prefix}.validation_fraction", "must be in [0, 1)")
        require(0.0 < self.masked_lm_prob < 1.0, f"{prefix}.masked_lm_prob", "must be in (0, 1)")
        require(self.max_predictions >= 0, f"{prefix}.max_predictions", "must be >= 0 (0 derives it)")
        require(0.0 <= self.short_seq_prob <= 1.0, f"{prefix}.short_seq_prob", "must be in [0, 1]")
        require(0.0 < self.noise_density < 1.0, f"{prefix}.noise_density", "must be in (0, 1)")
        require(self.mean_noise_span_length >= 1.0, f"{prefix}.mean_noise_span_length", "must be >= 1")
        require(self.prefetch >= 1, f"{prefix}.prefetch", "must be >= 1")
        require(self.workers >= 0, f"{prefix}.workers", "must be >= 0 (0 builds batches in this process)")
