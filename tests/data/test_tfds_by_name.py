"""A registered TFDS dataset opened by name (a tiny translation set prepared here, no network)."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from jaxlm.data import open_records  # noqa: E402
from jaxlm.objectives import make_loader  # noqa: E402
from tests.data.conftest import make_config  # noqa: E402


class JaxlmTinyPairs(tfds.core.GeneratorBasedBuilder):
    """German-English pairs; supervised keys ('de', 'en') like the wmt translation sets."""

    VERSION = tfds.core.Version("1.0.0")
    code_path = None  # defined in a test module: no checksums file beside it

    def _info(self):
        features = tfds.features.FeaturesDict({"de": tfds.features.Text(), "en": tfds.features.Text()})
        return tfds.core.DatasetInfo(builder=self, features=features, supervised_keys=("de", "en"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(40), "validation": self._generate_examples(8)}

    def _generate_examples(self, n):
        for i in range(n):
            yield i, {"de": f"das Haus Nummer {i} ist rot", "en": f"the house number {i} is red"}


@pytest.fixture()
def pairs_dir(tmp_path):
    JaxlmTinyPairs(data_dir=str(tmp_path), file_format="array_record").download_and_prepare()
    return str(tmp_path)


def test_registered_dataset_by_name_reads_supervised_pairs(pairs_dir):
    cfg = make_config("seq2seq", source="tfds", tfds_name="jaxlm_tiny_pairs", tfds_data_dir=pairs_dir)
    train = open_records(cfg.data, "train")
    assert len(train) == 40 and len(open_records(cfg.data, "validation")) == 8
    source, target = train[0]
    assert source.startswith("das Haus") and target.startswith("the house")


def test_seq2seq_batches_from_pairs_end_in_eos_and_shift_right(pairs_dir, tokenizer):
    cfg = make_config("seq2seq", source="tfds", tfds_name="jaxlm_tiny_pairs", tfds_data_dir=pairs_dir,
                      target_length=16)
    batch = next(make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer))
    for row in range(4):
        n = int(batch["decoder_segments"][row].sum())
        assert batch["targets"][row, n - 1] == tokenizer.eos_id
        np.testing.assert_array_equal(batch["decoder_inputs"][row, 1:n], batch["targets"][row, : n - 1])
        assert tokenizer.decode(batch["targets"][row, : n - 1]).startswith("the house number")


class JaxlmTinyText(tfds.core.GeneratorBasedBuilder):
    """Only a 'train' split, like wikipedia."""

    VERSION = tfds.core.Version("1.0.0")
    code_path = None

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({"text": tfds.features.Text()}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(100):
            yield i, {"text": f"article {i}. It has two sentences."}


def test_a_train_only_dataset_holds_out_its_first_part_for_validation(tmp_path):
    JaxlmTinyText(data_dir=str(tmp_path), file_format="array_record").download_and_prepare()
    cfg = make_config(source="tfds", tfds_name="jaxlm_tiny_text", tfds_data_dir=str(tmp_path), validation_fraction=0.1)
    train, validation = open_records(cfg.data, "train"), open_records(cfg.data, "validation")
    assert (len(train), len(validation)) == (90, 10)
    assert set(train).isdisjoint(validation) and validation[0].startswith("article")
