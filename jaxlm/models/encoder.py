"""Encoder family (BERT): bidirectional stack with pooler, masked-LM, NSP and classifier heads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.models.embedder import InputEmbedder, default_positions, default_segments
from jaxlm.models.heads import ClassificationHead, MaskedLMHead, Pooler
from jaxlm.nn.stack import LayerStack


class EncoderModel(nnx.Module):
    """tokens [b, l] → hidden [b, l, d], plus the heads the config switches on.

    Returns a dict: 'hidden'; 'pooled' [b, d] (pooler); 'mlm_logits' [b, p, vocab] at
    `mlm_positions` [b, p] (every position when none are given); 'nsp_logits' [b, 2];
    'class_logits' [b, num_labels]. `packed=False` promises one document per row followed by
    its padding (see `MultiHeadAttention`).
    """

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.config = cfg
        self.embedder = InputEmbedder(cfg, rngs=rngs)
        self.encoder = LayerStack(cfg, cfg.num_layers, causal=False, cross=False, rngs=rngs)
        self.pooler = Pooler(cfg, rngs=rngs) if cfg.pooler else None
        self.mlm_head = MaskedLMHead(cfg, rngs=rngs) if cfg.mlm_head else None
        self.nsp_head = ClassificationHead(cfg, 2, rngs=rngs, dropout=False) if cfg.nsp_head else None
        self.classifier = ClassificationHead(cfg, cfg.num_labels, rngs=rngs) if cfg.num_labels else None

    def __call__(
        self,
        inputs: jax.Array,
        *,
        token_types: jax.Array | None = None,
        segments: jax.Array | None = None,
        positions: jax.Array | None = None,
        mlm_positions: jax.Array | None = None,
        deterministic: bool = True,
        packed: bool = True,
    ) -> dict[str, jax.Array]:
        segments = default_segments(inputs, segments)
        positions = default_positions(inputs, positions)
        x = self.embedder(inputs, positions, token_types, deterministic=deterministic)
        hidden, _ = self.encoder(x, segments, positions=positions, deterministic=deterministic, packed=packed)
        outputs = {"hidden": hidden}
        if self.pooler is not None:
            outputs["pooled"] = self.pooler(hidden)
        if self.mlm_head is not None:
            masked = hidden if mlm_positions is None else jnp.take_along_axis(
                hidden, mlm_positions[:, :, None], axis=1
            )
            outputs["mlm_logits"] = self.mlm_head(masked, self.embedder.token)
        if self.nsp_head is not None:
            outputs["nsp_logits"] = self.nsp_head(outputs["pooled"], deterministic=deterministic)
        if self.classifier is not None:
            outputs["class_logits"] = self.classifier(outputs["pooled"], deterministic=deterministic)
        return outputs
