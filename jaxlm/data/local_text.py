"""Our TFDS builder for local text: files or a folder prepared once to array_record, then read
with TFDS's random-access data source (`as_data_source`), which needs no TensorFlow.

Documents: a folder gives one document per file; a single file gives its blank-line separated
parts. Splits: 'train' and 'validation' (`validation_fraction` of the documents, chosen by
`jaxlm.data.text.is_validation`). The prepared copy lives under `<cache>/tfds/local_text/<hash>`
where the hash covers the files' paths, sizes, modification times and the fraction, so an
edit re-prepares. tensorflow_datasets is imported only inside these functions.
"""

from __future__ import annotations

import hashlib
import pathlib
from collections.abc import Sequence

from jaxlm.data.text import file_documents, is_validation

SPLITS = ("train", "validation")


def source_hash(files: list[pathlib.Path], validation_fraction: float) -> str:
    digest = hashlib.sha256(repr(validation_fraction).encode())
    for file in files:
        stat = file.stat()
        digest.update(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _builder_class():
    import tensorflow_datasets as tfds

    class LocalText(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        """Local text documents: features {'text': Text}; splits train / validation."""

        VERSION = tfds.core.Version("1.0.0")
        code_path = None  # no checksums file: nothing is downloaded
        files: tuple[pathlib.Path, ...] = ()
        one_per_file = True
        validation_fraction = 0.05

        def _info(self):
            features = tfds.features.FeaturesDict({"text": tfds.features.Text()})
            return tfds.core.DatasetInfo(builder=self, features=features)

        def _split_generators(self, dl_manager):
            count = sum(1 for _ in file_documents(list(self.files), self.one_per_file))
            held_out = sum(is_validation(i, self.validation_fraction) for i in range(count))
            sizes = {"train": count - held_out, "validation": held_out}
            return {split: self._generate_examples(split) for split in SPLITS if sizes[split]}  # TFDS needs ≥ 1

        def _generate_examples(self, split):
            docs = file_documents(list(self.files), self.one_per_file)
            for index, doc in enumerate(docs):
                if (split == "validation") == is_validation(index, self.validation_fraction):
                    yield index, {"text": doc}

    return LocalText


def prepare_local_text(
    files: list[pathlib.Path], one_per_file: bool, validation_fraction: float, cache_dir: pathlib.Path
) -> dict[str, Sequence]:
    """Prepare (once) and open the local text as TFDS data sources: {split: records with a 'text' field}
    (an empty list for a split without documents)."""
    builder_class = _builder_class()
    builder_class.files = tuple(files)
    builder_class.one_per_file = one_per_file
    builder_class.validation_fraction = validation_fraction
    data_dir = cache_dir / "tfds" / source_hash(files, validation_fraction)
    builder = builder_class(data_dir=str(data_dir), file_format="array_record")
    builder.download_and_prepare()
    return {split: builder.as_data_source(split) if split in builder.info.splits else [] for split in SPLITS}
