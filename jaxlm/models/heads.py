"""Output heads: language-model projection, BERT pooler / masked-LM / NSP, classification."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.nn.dense import Dense
from jaxlm.nn.embed import Embed
from jaxlm.nn.feed_forward import ACTIVATIONS
from jaxlm.nn.init import kernel_std
from jaxlm.nn.norms import norm_from_config
from jaxlm.nn.params import canonical_dtype, make_param


def _dense(cfg: ModelConfig, fan_in: int, fan_out: int, axes: tuple[str, str], rngs: nnx.Rngs,
           use_bias: bool = True, std: float | None = None) -> Dense:
    return Dense(
        fan_in, fan_out, axes=axes, rngs=rngs, use_bias=use_bias,
        init_std=kernel_std(cfg, fan_in) if std is None else std,
        dtype=canonical_dtype(cfg.dtype), param_dtype=canonical_dtype(cfg.param_dtype),
    )


class LanguageModelHead(nnx.Module):
    """logits = h Eᵀ (tied to the token embedding E, optionally with h scaled by d_model^-½ as in
    T5 v1.0) or h W (untied, W: ('embed', 'vocab')). h: [b, l, d] → logits: [b, l, vocab], float32."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.scale = cfg.d_model ** -0.5 if cfg.scale_tied_logits else 1.0
        self.projection = (
            None if cfg.tie_embeddings
            else _dense(cfg, cfg.d_model, cfg.vocab_size, ("embed", "vocab"), rngs, False, cfg.init_std)
        )

    def __call__(self, hidden: jax.Array, embed: Embed) -> jax.Array:
        if self.projection is None:
            return embed.attend(hidden * self.scale).astype(jnp.float32)
        return self.projection(hidden).astype(jnp.float32)


class Pooler(nnx.Module):
    """pooled = tanh(h[:, 0] W + b): the [CLS] state through a dense layer. [b, l, d] → [b, d]."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.dense = _dense(cfg, cfg.d_model, cfg.d_model, ("embed", "mlp"), rngs)

    def __call__(self, hidden: jax.Array) -> jax.Array:
        return jnp.tanh(self.dense(hidden[:, 0]))


class MaskedLMHead(nnx.Module):
    """BERT's masked-LM head: t = N(act(h W_t + b_t)); logits = t Eᵀ + b_out (E tied).

    h: [b, p, d] (the hidden states at the masked positions) → logits [b, p, vocab], float32.
    """

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.transform = _dense(cfg, cfg.d_model, cfg.d_model, ("embed", "mlp"), rngs)
        self.activation = ACTIVATIONS[cfg.activation]
        self.norm = norm_from_config(cfg, rngs)
        self.decoder = LanguageModelHead(cfg, rngs=rngs)
        self.output_bias = make_param(
            rngs, nnx.initializers.zeros, (cfg.vocab_size,), ("vocab",), canonical_dtype(cfg.param_dtype)
        )

    def __call__(self, hidden: jax.Array, embed: Embed) -> jax.Array:
        transformed = self.norm(self.activation(self.transform(hidden)))
        return self.decoder(transformed, embed) + self.output_bias[...].astype(jnp.float32)


class ClassificationHead(nnx.Module):
    """logits = dropout(pooled) W + b: [b, d] → [b, num_classes] (NSP uses 2 classes).

    The class axis is annotated 'vocab' (a vocabulary of labels), so sharding rules treat it like
    the output vocabulary.
    """

    def __init__(self, cfg: ModelConfig, num_classes: int, *, rngs: nnx.Rngs, dropout: bool = True):
        self.dense = _dense(cfg, cfg.d_model, num_classes, ("embed", "vocab"), rngs)
        self.dropout = nnx.Dropout(cfg.dropout_rate if dropout else 0.0, rngs=rngs)

    def __call__(self, pooled: jax.Array, *, deterministic: bool = True) -> jax.Array:
        return self.dense(self.dropout(pooled, deterministic=deterministic)).astype(jnp.float32)
