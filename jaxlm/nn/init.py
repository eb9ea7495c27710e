"""Initial standard deviations of the weights, by `model.init` scheme.

'fixed' (BERT, GPT-2): every weight ~ N(0, init_std²), init_std 0.02.
'fan_in' (T5: mesh-tensorflow, and transformers' T5 `_init_weights`), init_std being T5's
`initializer_factor` (1.0):

    dense kernel [fan_in, fan_out]           init_std · fan_in^-½
    attention query, unscaled attention      init_std · (d_model · head_dim)^-½
    relative position bias [buckets, heads]  init_std · d_model^-½
    token embedding, untied output kernel    init_std

so every matrix keeps its activations' scale, and the query carries the head_dim^-½ that unscaled
attention leaves out: at initialisation q · k has unit variance (not head_dim · d_model · init_std⁴,
a standard deviation of 10 for t5_small with a fixed 0.05, which makes attention nearly one-hot).
"""

from __future__ import annotations

from jaxlm.config import ModelConfig


def kernel_std(cfg: ModelConfig, fan_in: int) -> float:
    """A dense kernel with `fan_in` inputs."""
    return cfg.init_std * fan_in**-0.5 if cfg.init == "fan_in" else cfg.init_std


def query_std(cfg: ModelConfig) -> float:
    """The attention query kernel (d_model inputs)."""
    if cfg.init != "fan_in" or cfg.scale_attention:
        return kernel_std(cfg, cfg.d_model)
    return kernel_std(cfg, cfg.d_model * cfg.resolved_head_dim)


def relative_bias_std(cfg: ModelConfig) -> float:
    """T5's relative position bias table."""
    return kernel_std(cfg, cfg.d_model)
