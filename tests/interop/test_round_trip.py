"""Weights and configs survive both round trips exactly: transformers → jaxlm → transformers, and
jaxlm → transformers → jaxlm, in the unrolled and the scanned layer layouts."""

import numpy as np
import pytest
import torch

from jaxlm.config import load_config
from jaxlm.interop import from_hf, to_hf, to_state_dict
from jaxlm.interop.convert import torch_to_numpy
from jaxlm.interop.layout import model_weights
from jaxlm.models import build_model
from tests.interop import helpers

HF_MODELS = {
    "BertForPreTraining": lambda: helpers.bert("BertForPreTraining"),
    "BertForMaskedLM": lambda: helpers.bert("BertForMaskedLM"),
    "BertForSequenceClassification": lambda: helpers.bert("BertForSequenceClassification"),
    "GPT2LMHeadModel": lambda: helpers.gpt2(tied=True),
    "GPT2LMHeadModel-untied": lambda: helpers.gpt2(tied=False),
    "T5-v1.0": lambda: helpers.t5("v1.0"),
    "T5-v1.1": lambda: helpers.t5("v1.1"),
}

ODD = ["model.vocab_size=101", "model.d_model=30", "model.num_heads=3", "model.d_ff=37", "model.max_length=41"]
JAXLM_CONFIGS = {
    "bert_pretraining": ("bert_tiny", ODD),
    "bert_untied": ("bert_tiny", [*ODD, "model.tie_embeddings=false"]),
    "bert_classifier": ("bert_tiny", [*ODD, "model.mlm_head=false", "model.nsp_head=false", "model.num_labels=4"]),
    "gpt2": ("gpt2_tiny", ODD),
    "gpt2_untied": ("gpt2_tiny", [*ODD, "model.tie_embeddings=false"]),
    "t5_v1_0": ("t5_tiny", [*ODD, "model.head_dim=7", "model.num_decoder_layers=3"]),
    "t5_v1_1": ("t5_v1_1_small", [*ODD, "model.head_dim=7", "model.num_layers=2", "model.num_decoder_layers=3"]),
}


@pytest.mark.parametrize("name", HF_MODELS)
def test_transformers_state_dict_survives_jaxlm_round_trip(name):
    hf = HF_MODELS[name]()
    expected = torch_to_numpy(hf.state_dict())
    for scan_layers in (False, True):
        _, model = from_hf(hf, scan_layers=scan_layers)
        state = to_state_dict(model)
        assert state.keys() == expected.keys()
        for key, value in expected.items():
            np.testing.assert_array_equal(state[key], value, err_msg=key)
    type(hf)(hf.config).load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)


@pytest.mark.parametrize("name", JAXLM_CONFIGS)
def test_jaxlm_model_survives_transformers_round_trip(name):
    preset, overrides = JAXLM_CONFIGS[name]
    cfg = load_config(preset, overrides).model
    model = build_model(cfg, seed=3)
    hf = to_hf(model)
    for scan_layers in (False, True):
        back_cfg, back = from_hf(hf, scan_layers=scan_layers)
        assert back_cfg == cfg.__class__(**{**cfg.__dict__, "scan_layers": scan_layers})
        original, returned = model_weights(model), model_weights(back)
        assert original.keys() == returned.keys()
        for path, value in original.items():
            np.testing.assert_array_equal(returned[path], value, err_msg=path)
