"""TFDS's own text datasets open by name without TensorFlow. Without TensorFlow, TFDS registers
datasets such as c4 only once their category package is imported, so a fresh process that asks
for `c4/en` used to get "Dataset c4 not found". The data here is a fake c4 prepared in a temporary
data dir (the real builder with its downloads replaced), so nothing is fetched."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

tfds = pytest.importorskip("tensorflow_datasets")

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPEN_BY_NAME = """
import json, sys
import tensorflow_datasets as tfds
from jaxlm.config import load_config
from jaxlm.data import open_records
from jaxlm.errors import JaxlmError

def config(data_dir):
    return load_config("gpt2_tiny", ["data.source=tfds", "data.tfds_name=c4/en", "data.tfds_data_dir=" + data_dir])

prepare = tfds.core.DatasetBuilder.download_and_prepare
asked = []
def offline(builder, *args, **kwargs):  # what would be downloaded: record it instead
    asked.append(f"{type(builder).__module__}.{type(builder).__name__}")
    raise SystemExit("offline")
tfds.core.DatasetBuilder.download_and_prepare = offline
try:
    open_records(config(sys.argv[2]).data, "train")
except (SystemExit, JaxlmError) as stop:
    asked.append(str(stop))
tfds.core.DatasetBuilder.download_and_prepare = prepare
cfg = config(sys.argv[1])
train, validation = open_records(cfg.data, "train"), open_records(cfg.data, "validation")
print(json.dumps({"asked": asked, "train": sorted(train), "validation": len(validation),
                  "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.fixture(scope="module")
def fake_c4_dir(tmp_path_factory):
    from tensorflow_datasets.text import c4

    with tfds.core.registered.skip_registration():
        class FakeC4(c4.C4):
            name = "c4"
            code_path = None  # defined here: no checksums file beside it

            def _split_generators(self, dl_manager):
                return {"train": self._generate_examples(12), "validation": self._generate_examples(3)}

            def _generate_examples(self, count):
                for i in range(count):
                    yield i, {"text": f"Web page {i}. It talks about lists.", "url": f"https://example.com/{i}",
                              "content-type": "text/plain", "content-length": "32", "timestamp": "2019-04-01"}

    data_dir = tmp_path_factory.mktemp("tfds")
    FakeC4(config="en", data_dir=str(data_dir), file_format="array_record").download_and_prepare()
    return data_dir


def test_c4_opens_by_name_in_a_fresh_process_without_tensorflow(fake_c4_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", OPEN_BY_NAME, str(fake_c4_dir), str(tmp_path)], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # with nothing prepared, TFDS's own c4 builder is found by name and asked to download
    assert result["asked"] == ["tensorflow_datasets.text.c4.C4", "offline"]
    assert result["train"] == sorted(f"Web page {i}. It talks about lists." for i in range(12))
    assert result["validation"] == 3
    assert not result["tensorflow"]
