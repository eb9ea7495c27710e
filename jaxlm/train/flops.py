"""Model FLOPs of a training step and the device peak they are measured against (MFU).

Per token, training costs 6 × (matmul parameters the token passes through) for forward and
backward, plus attention scores and values: 12 × layers × keys × attention width per token
(halved for causal self-attention, as MaxText counts). Embedding lookups are free; the
unembedding counts once per predicted position (BERT predicts only at the masked positions).

    flops = train_flops(cfg.model, batch)          # shapes are read from the (global) batch dict
    mfu = flops / step_time / devices / peak_flops(jax.devices()[0])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax

from jaxlm.config import ModelConfig

# Dense bfloat16 peak FLOP/s per device, matched against `device.device_kind` (first hit wins).
# CPUs have no entry: MFU is then reported as unknown.
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100", 989e12),
    ("A100", 312e12),
    ("L4", 121e12),
    ("A10G", 125e12),
    ("V100", 125e12),
    ("TPU v6", 918e12),
    ("TPU v5p", 459e12),
    ("TPU v5 lite", 197e12),
    ("TPU v5e", 197e12),
    ("TPU v4", 275e12),
    ("TPU v3", 123e12),
)


def peak_flops(device: jax.Device) -> float | None:
    """The device's dense bf16 peak FLOP/s from `PEAK_FLOPS`, or None when unknown (CPU)."""
    kind = device.device_kind
    return next((peak for name, peak in PEAK_FLOPS if name.lower() in kind.lower()), None)


def train_flops(cfg: ModelConfig, batch: Mapping[str, Any]) -> float:
    """Model FLOPs (forward + backward) of one training step on `batch` (global shapes).

    Per layer, with P = d_model × heads·head_dim (one attention projection), M the MLP's matmul
    parameters and A = heads·head_dim: a self-attention block costs 6 (4P + M) per token plus
    12 A per key (6 A when causal); a decoder block of an encoder–decoder adds cross-attention:
    6 · 2P per target token (query, output), 6 · 2P per *source* token (its keys and values are
    projections of the encoder output) and 12 A per source key per target token.
    """
    inner = cfg.num_heads * cfg.resolved_head_dim
    projection = cfg.d_model * inner
    mlp = (3 if cfg.gated else 2) * cfg.d_model * cfg.d_ff
    block = 6 * (4 * projection + mlp)
    rows, source = batch["inputs"].shape[:2]
    unembed = 6 * cfg.d_model * cfg.vocab_size
    if cfg.family == "encoder":
        tokens = rows * source
        flops = tokens * cfg.num_layers * (block + 12 * source * inner)
        if cfg.pooler:
            flops += rows * 6 * cfg.d_model * cfg.d_model
        if cfg.mlm_head:
            predicted = rows * batch["mlm_positions"].shape[1] if "mlm_positions" in batch else tokens
            flops += predicted * (6 * cfg.d_model * cfg.d_model + unembed)
        return float(flops)
    if cfg.family == "decoder":
        tokens = rows * source
        return float(tokens * (cfg.num_layers * (block + 6 * source * inner) + unembed))
    target = batch["decoder_inputs"].shape[1]
    encoder = rows * source * cfg.num_layers * (block + 12 * source * inner)
    decoder_per_target = block + 6 * 2 * projection + 6 * target * inner + 12 * source * inner
    decoder_per_source = 6 * 2 * projection
    layers = cfg.resolved_decoder_layers
    decoder = rows * (target * (layers * decoder_per_target + unembed) + source * layers * decoder_per_source)
    return float(encoder + decoder)


def batch_tokens(batch: Mapping[str, Any]) -> int:
    """Token positions processed per step: encoder/decoder inputs, padding included (global shapes)."""
    return sum(math.prod(batch[key].shape) for key in ("inputs", "decoder_inputs") if key in batch)
