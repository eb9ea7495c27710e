"""Hugging Face folders in and out, through the Python API and `jaxlm convert`; model-only
checkpoints restore into either layer layout."""

import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxlm.cli import main
from jaxlm.config import Config
from jaxlm.interop import load_hf_folder, to_state_dict
from jaxlm.interop.convert import torch_to_numpy
from jaxlm.interop.layout import model_weights
from jaxlm.models import build_model
from jaxlm.train.params_io import load_params, restore_params_into, save_params
from tests.interop import helpers


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("variant", ["gpt2", "t5-v1.1"])
def test_cli_round_trip_reproduces_the_folder(tmp_path, variant):
    source = helpers.gpt2() if variant == "gpt2" else helpers.t5("v1.1")
    source.save_pretrained(tmp_path / "hf")
    original = type(source).from_pretrained(tmp_path / "hf").eval()

    assert main(["convert", "--from-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "ckpt")]) == 0
    assert load_params(tmp_path / "ckpt")[0].model.tie_embeddings == (variant == "gpt2")
    assert main(["convert", "--to-hf", str(tmp_path / "ckpt"), "--out", str(tmp_path / "back")]) == 0
    back = type(source).from_pretrained(tmp_path / "back").eval()

    assert_same_state(torch_to_numpy(back.state_dict()), torch_to_numpy(original.state_dict()))
    ids, mask = helpers.padded_batch([9, 6], 9, seed=9)
    inputs = {"input_ids": helpers.torch_ids(ids), "attention_mask": helpers.torch_ids(mask)}
    if variant != "gpt2":
        inputs["decoder_input_ids"] = helpers.torch_ids(ids[:, :5])
    with torch.no_grad():
        np.testing.assert_array_equal(back(**inputs).logits.numpy(), original(**inputs).logits.numpy())


def test_pytorch_bin_folder_loads(tmp_path):
    hf = helpers.bert("BertForSequenceClassification")
    hf.config.architectures = ["BertForSequenceClassification"]
    hf.config.to_json_file(tmp_path / "config.json")
    torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    cfg, model = load_hf_folder(tmp_path)
    with torch.no_grad():
        expected = hf(helpers.torch_ids(np.arange(2, 12)[None])).logits.numpy()
    got = model(jnp.arange(2, 12)[None])["class_logits"]
    assert cfg.num_labels == 5
    assert helpers.relative_error(got, expected) <= helpers.TOLERANCE


def test_sharded_safetensors_folder_loads(tmp_path):
    hf = helpers.gpt2()
    hf.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    _, model = load_hf_folder(tmp_path)
    assert_same_state(to_state_dict(model), torch_to_numpy(hf.state_dict()))


def test_architecture_override_reads_a_pretraining_checkpoint_labelled_masked_lm(tmp_path):
    hf = helpers.bert("BertForPreTraining")
    hf.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "architectures": ["BertForMaskedLM"]}))
    cfg, _ = load_hf_folder(tmp_path, architecture="BertForPreTraining")
    assert cfg.nsp_head and cfg.mlm_head


def test_unrolled_checkpoint_restores_into_a_scanned_model_and_back(tmp_path):
    helpers.gpt2().save_pretrained(tmp_path / "hf")
    cfg, model = load_hf_folder(tmp_path / "hf")
    save_params(tmp_path / "ckpt", model, Config(model=cfg))
    loaded_cfg, loaded = load_params(tmp_path / "ckpt")
    assert loaded_cfg.model == cfg
    assert_same_state(model_weights(loaded), model_weights(model))
    scanned = build_model(dataclasses.replace(cfg, scan_layers=True), seed=5)
    restore_params_into(tmp_path / "ckpt", scanned)
    assert_same_state(model_weights(scanned), model_weights(model))
    save_params(tmp_path / "scanned", scanned, Config(model=scanned.config))
    unrolled = build_model(cfg, seed=6)
    restore_params_into(tmp_path / "scanned", unrolled)
    assert_same_state(model_weights(unrolled), model_weights(model))

