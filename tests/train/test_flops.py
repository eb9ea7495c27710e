"""Model FLOPs per step (hand-counted, and against XLA's own count) and the device peak table."""

import types

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlm.config import load_config
from jaxlm.models import build_model
from jaxlm.train.flops import batch_tokens, peak_flops, train_flops


def test_decoder_flops_are_six_n_per_token_plus_causal_attention():
    cfg = load_config("gpt2_tiny").model  # d 128, ff 512, 2 layers, vocab 2048
    batch = {"inputs": np.zeros((4, 64), np.int32)}
    block = 4 * 128 * 128 + 2 * 128 * 512
    per_token = 6 * (2 * block + 2048 * 128) + 2 * 6 * 64 * 128
    assert train_flops(cfg, batch) == 4 * 64 * per_token
    assert batch_tokens(batch) == 256


def test_encoder_flops_count_the_mlm_head_at_the_masked_positions_only():
    cfg = load_config("bert_tiny").model  # d 128, ff 512, 2 layers, vocab 2048, pooler, MLM + NSP heads
    batch = {"inputs": np.zeros((4, 64), np.int32), "mlm_positions": np.zeros((4, 10), np.int32)}
    block = 4 * 128 * 128 + 2 * 128 * 512
    encoder = 4 * 64 * 2 * (6 * block + 12 * 64 * 128)  # bidirectional: every token sees 64 keys
    pooler = 4 * 6 * 128 * 128
    mlm = 4 * 10 * 6 * (128 * 128 + 128 * 2048)
    assert train_flops(cfg, batch) == encoder + pooler + mlm


def test_encoder_decoder_flops_project_cross_attention_keys_at_the_source_length():
    cfg = load_config("t5_tiny").model  # d 128, 4 heads x 32, ff 512, 2 + 2 layers, vocab 2048
    source, target = 64, 8
    batch = {"inputs": np.zeros((2, source), np.int32), "decoder_inputs": np.zeros((2, target), np.int32)}
    p, mlp = 128 * 128, 2 * 128 * 512
    encoder = 2 * source * 2 * (6 * (4 * p + mlp) + 12 * source * 128)
    decoder_targets = 2 * target * (2 * (6 * (6 * p + mlp) + 6 * target * 128 + 12 * source * 128) + 6 * 128 * 2048)
    cross_keys_values = 2 * source * 2 * 6 * 2 * p
    assert train_flops(cfg, batch) == encoder + decoder_targets + cross_keys_values
    assert batch_tokens(batch) == 2 * (source + target)


def test_encoder_decoder_flops_agree_with_xla_s_count_when_the_source_is_long():
    """XLA's cost analysis of the compiled forward + backward counts every multiply-add (plus some
    elementwise work); with a source 16x the target, counting cross-attention keys at the target
    length would fall ~15 % short."""
    cfg = load_config("t5_tiny", ["model.num_layers=2", "model.vocab_size=64", "model.position=learned",
                                  "model.max_length=128"]).model
    model = build_model(cfg)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    batch = {"inputs": jnp.ones((2, 128), jnp.int32), "decoder_inputs": jnp.ones((2, 8), jnp.int32)}

    def loss(params, batch):
        return nnx.merge(graphdef, params, rest)(batch["inputs"], batch["decoder_inputs"])["logits"].sum()

    counted = jax.jit(jax.grad(loss)).lower(params, batch).compile().cost_analysis()["flops"]
    np.testing.assert_allclose(train_flops(cfg, batch), counted, rtol=0.05)


def test_peak_flops_by_device_kind():
    assert peak_flops(types.SimpleNamespace(device_kind="NVIDIA H100 80GB HBM3")) == 989e12
    assert peak_flops(types.SimpleNamespace(device_kind="TPU v5 lite")) == 197e12
    assert peak_flops(types.SimpleNamespace(device_kind="cpu")) is None
