"""The GPU machine has no tensorflow-datasets: the embedded corpus and local text must still load."""

import sys

import numpy as np
import pytest

from jaxlm.data import open_records
from jaxlm.errors import JaxlmError
from jaxlm.objectives import make_loader
from tests.data.conftest import make_config


@pytest.fixture()
def no_tfds(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # any import now raises ImportError


def test_embedded_loader_runs_without_tfds(no_tfds, tokenizer):
    batch = next(make_loader(make_config(), process_index=0, process_count=1, tokenizer=tokenizer))
    assert batch["inputs"].shape == (4, 32) and batch["weights"].sum() > 0


def test_local_text_falls_back_to_memory_with_the_same_split(no_tfds, text_folder):
    cfg = make_config(source="local", path=str(text_folder), validation_fraction=0.25)
    in_memory = {split: sorted(open_records(cfg.data, split)) for split in ("train", "validation")}
    assert isinstance(open_records(cfg.data, "train"), list)
    sys.modules.pop("tensorflow_datasets")
    from_tfds = {split: open_records(cfg.data, split) for split in ("train", "validation")}
    assert not isinstance(from_tfds["train"], list), "read through the TFDS data source"
    through_tfds = {split: sorted(records) for split, records in from_tfds.items()}
    assert in_memory == through_tfds and len(in_memory["validation"]) > 0
    assert np.all([doc.startswith("Document") for doc in in_memory["train"]])


def test_tfds_source_without_tfds_is_a_one_line_error(no_tfds):
    cfg = make_config(source="tfds", tfds_name="lm1b")
    with pytest.raises(JaxlmError, match=r"data.source: tfds needs tensorflow-datasets"):
        open_records(cfg.data, "train")
