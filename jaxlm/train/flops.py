"""Model FLOPs of a training step and the device peak they are measured against (MFU).

Per token, training costs 6 × (matmul parameters the token passes through) for forward and
backward, plus attention scores and values: 12 × layers × keys × attention width per token
(halved for causal self-attention, as MaxText counts; `attention_flops`). Embedding lookups are free; the
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

# Dense bfloat16 peak FLOP/s per device, keyed by a name `device.device_kind` contains. The first
# hit wins, so 'TPU v5 lite' (v5e) comes before 'TPU v5' (v5p). CPUs have no entry: MFU is then
# reported as unknown. The lab's roofline profiles (jaxlm.lab.hardware) take their peaks from here.
PEAK_FLOPS: dict[str, float] = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "A10G": 125e12,
    "V100": 125e12,
    "TPU v6": 918e12,
    "TPU v5p": 459e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5": 459e12,
    "TPU v4": 275e12,
    "TPU v3": 123e12,
}


def device_name(device_kind: str) -> str | None:
    """The first `PEAK_FLOPS` name `device_kind` contains ('NVIDIA H100 80GB HBM3' → 'H100'), or None (CPU)."""
    kind = device_kind.lower()
    return next((name for name in PEAK_FLOPS if name.lower() in kind), None)


def peak_flops(device: jax.Device) -> float | None:
    """The device's dense bf16 peak FLOP/s from `PEAK_FLOPS`, or None when unknown (CPU)."""
    name = device_name(device.device_kind)
    return None if name is None else PEAK_FLOPS[name]


def attention_flops(rows: int, queries: int, keys: int, width: int, *, causal: bool) -> float:
    """FLOPs of the attention core, forward + backward: scores q·kᵀ and the weighted sum of values
    are 2 · 2 · queries · keys · width each, the backward pass twice the forward: 12 · rows ·
    queries · keys · width (heads · head_dim = width), halved when causal (the keys after the query
    are masked, and a causal kernel skips them)."""
    return 12 * rows * queries * keys * width / (2 if causal else 1)


def train_flops(cfg: ModelConfig, batch: Mapping[str, Any]) -> float:
    """Model FLOPs (forward + backward) of one training step on `batch` (global shapes).

    Per layer, with P = d_model × heads·head_dim (one attention projection) and M the MLP's
    matmul parameters: a block costs 6 (4P + M) per token plus its `attention_flops`; a decoder
    block of an encoder–decoder adds cross-attention: 6 · 2P per target token (query, output),
    6 · 2P per *source* token (its keys and values are projections of the encoder output) and
    the attention of the target over the source.
    """
    inner = cfg.num_heads * cfg.resolved_head_dim
    projection = cfg.d_model * inner
    mlp = (3 if cfg.gated else 2) * cfg.d_model * cfg.d_ff
    block = 6 * (4 * projection + mlp)
    rows, source = batch["inputs"].shape[:2]
    unembed = 6 * cfg.d_model * cfg.vocab_size
    if cfg.family == "decoder":
        attention = attention_flops(rows, source, source, inner, causal=True)
        return float(cfg.num_layers * (rows * source * block + attention) + rows * source * unembed)
    encoder = cfg.num_layers * (rows * source * block + attention_flops(rows, source, source, inner, causal=False))
    if cfg.family == "encoder":
        flops = encoder
        if cfg.pooler:
            flops += rows * 6 * cfg.d_model * cfg.d_model
        if cfg.mlm_head:
            predicted = rows * batch["mlm_positions"].shape[1] if "mlm_positions" in batch else rows * source
            flops += predicted * (6 * cfg.d_model * cfg.d_model + unembed)
        return float(flops)
    target = batch["decoder_inputs"].shape[1]
    decoder_layer = (
        rows * target * (block + 6 * 2 * projection) + rows * source * 6 * 2 * projection
        + attention_flops(rows, target, target, inner, causal=True)
        + attention_flops(rows, target, source, inner, causal=False)
    )
    return float(encoder + cfg.resolved_decoder_layers * decoder_layer + rows * target * unembed)


def batch_tokens(batch: Mapping[str, Any]) -> int:
    """Token positions processed per step: encoder/decoder inputs, padding included (global shapes)."""
    return sum(math.prod(batch[key].shape) for key in ("inputs", "decoder_inputs") if key in batch)
