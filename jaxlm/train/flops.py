"""Model FLOPs of a training step and the device peak they are measured against (MFU).

Per token, training costs 6 × (matmul parameters the token passes through) for forward and
backward, plus attention scores and values: 12 × layers × keys × attention width per token
(halved for causal self-attention, as MaxText counts). Embedding lookups are free; the
unembedding counts once per predicted position (BERT predicts only at the masked positions).

    flops = train_flops(cfg.model, batch)          # shapes are read from the batch dict
    mfu = flops / step_time / devices / peak_flops(jax.devices()[0])
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np

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


def _block_params(cfg: ModelConfig, cross: bool) -> int:
    """Matmul parameters of one block: q, k, v, o projections (+ cross-attention) and the MLP."""
    inner = cfg.num_heads * cfg.resolved_head_dim
    attention = 4 * cfg.d_model * inner
    mlp = (3 if cfg.gated else 2) * cfg.d_model * cfg.d_ff
    return attention * (2 if cross else 1) + mlp


def train_flops(cfg: ModelConfig, batch: Mapping[str, np.ndarray]) -> float:
    """Model FLOPs (forward + backward) of one training step on `batch` (global shapes)."""
    inner = cfg.num_heads * cfg.resolved_head_dim
    rows, source = batch["inputs"].shape[:2]
    unembed = 6 * cfg.d_model * cfg.vocab_size
    if cfg.family == "encoder":
        tokens = rows * source
        flops = tokens * cfg.num_layers * (6 * _block_params(cfg, False) + 12 * source * inner)
        if cfg.pooler:
            flops += rows * 6 * cfg.d_model * cfg.d_model
        if cfg.mlm_head:
            predicted = rows * batch["mlm_positions"].shape[1] if "mlm_positions" in batch else tokens
            flops += predicted * (6 * cfg.d_model * cfg.d_model + unembed)
        return float(flops)
    if cfg.family == "decoder":
        tokens = rows * source
        return float(tokens * (cfg.num_layers * (6 * _block_params(cfg, False) + 6 * source * inner) + unembed))
    target = batch["decoder_inputs"].shape[1]
    encoder = rows * source * cfg.num_layers * (6 * _block_params(cfg, False) + 12 * source * inner)
    decoder_layer = 6 * _block_params(cfg, True) + 6 * target * inner + 12 * source * inner
    decoder = rows * target * (cfg.resolved_decoder_layers * decoder_layer + unembed)
    return float(encoder + decoder)


def batch_tokens(batch: Mapping[str, np.ndarray]) -> int:
    """Token positions processed per step: encoder/decoder inputs, padding included."""
    return int(sum(np.size(batch[key]) for key in ("inputs", "decoder_inputs") if key in batch))
