"""Model FLOPs per step and the device peak table."""

import types

import numpy as np

from jaxlm.config import load_config
from jaxlm.train.flops import batch_tokens, peak_flops, train_flops


def test_decoder_flops_are_six_n_per_token_plus_causal_attention():
    cfg = load_config("gpt2_tiny").model  # d 128, ff 512, 2 layers, vocab 2048
    batch = {"inputs": np.zeros((4, 64), np.int32)}
    block = 4 * 128 * 128 + 2 * 128 * 512
    per_token = 6 * (2 * block + 2048 * 128) + 2 * 6 * 64 * 128
    assert train_flops(cfg, batch) == 4 * 64 * per_token
    assert batch_tokens(batch) == 256


def test_peak_flops_by_device_kind():
    assert peak_flops(types.SimpleNamespace(device_kind="NVIDIA H100 80GB HBM3")) == 989e12
    assert peak_flops(types.SimpleNamespace(device_kind="TPU v5 lite")) == 197e12
    assert peak_flops(types.SimpleNamespace(device_kind="cpu")) is None
