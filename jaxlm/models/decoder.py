"""Decoder family (GPT): causal stack and language-model head, with KV-cache decoding."""

from __future__ import annotations

import jax
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.models.embedder import InputEmbedder, default_positions, default_segments
from jaxlm.models.heads import LanguageModelHead
from jaxlm.nn.stack import LayerCache, LayerStack, cache_index


class DecoderModel(nnx.Module):
    """tokens [b, l] → logits [b, l, vocab] for the next token at every position.

    Returns {'hidden', 'logits', 'cache'}. With a cache (from `init_cache`), the tokens are
    appended after the cached ones, positions default to continue from there, and the
    updated cache is returned: a prompt can be prefilled in one call and then extended one token
    at a time. `packed=False` promises one document per row followed by its padding (see
    `MultiHeadAttention`).
    """

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.config = cfg
        self.embedder = InputEmbedder(cfg, rngs=rngs)
        self.decoder = LayerStack(cfg, cfg.num_layers, causal=True, cross=False, rngs=rngs)
        self.lm_head = LanguageModelHead(cfg, rngs=rngs)

    def init_cache(self, batch: int, max_length: int) -> LayerCache:
        return self.decoder.init_cache(batch, max_length)

    def __call__(
        self,
        inputs: jax.Array,
        *,
        segments: jax.Array | None = None,
        positions: jax.Array | None = None,
        cache: LayerCache = None,
        deterministic: bool = True,
        packed: bool = True,
    ) -> dict:
        segments = default_segments(inputs, segments)
        positions = default_positions(inputs, positions, cache_index(cache))
        x = self.embedder(inputs, positions, deterministic=deterministic)
        hidden, cache = self.decoder(
            x, segments, positions=positions, cache=cache, deterministic=deterministic, packed=packed
        )
        return {"hidden": hidden, "logits": self.lm_head(hidden, self.embedder.token), "cache": cache}
