"""Encoder–decoder family (T5 / Transformer): shared embedding, encoder stack, decoder stack with
cross-attention, language-model head."""

from __future__ import annotations

import jax
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.models.embedder import InputEmbedder, default_positions, default_segments
from jaxlm.models.heads import LanguageModelHead
from jaxlm.nn.stack import LayerCache, LayerStack, cache_index


class EncoderDecoderModel(nnx.Module):
    """inputs [b, ls] and decoder_inputs [b, lt] (targets shifted right) → logits [b, lt, vocab].

    `encode` runs the encoder once; `decode` runs the decoder over its output, optionally with a
    KV cache of the decoder's self-attention (cross-attention keys are recomputed from the
    encoder output at each step). Cross-attention pairs decoder and encoder tokens with the
    same segment id, so packed pairs stay apart; `packed=False` promises one pair per row, each
    side followed by its padding (see `MultiHeadAttention`).
    """

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.config = cfg
        self.embedder = InputEmbedder(cfg, rngs=rngs)
        self.encoder = LayerStack(cfg, cfg.num_layers, causal=False, cross=False, rngs=rngs)
        self.decoder = LayerStack(cfg, cfg.resolved_decoder_layers, causal=True, cross=True, rngs=rngs)
        self.lm_head = LanguageModelHead(cfg, rngs=rngs)

    def init_cache(self, batch: int, max_length: int) -> LayerCache:
        return self.decoder.init_cache(batch, max_length)

    def encode(
        self, inputs: jax.Array, *, segments: jax.Array | None = None, positions: jax.Array | None = None,
        deterministic: bool = True, packed: bool = True,
    ) -> jax.Array:
        segments = default_segments(inputs, segments)
        positions = default_positions(inputs, positions)
        x = self.embedder(inputs, positions, deterministic=deterministic)
        encoded, _ = self.encoder(x, segments, positions=positions, deterministic=deterministic, packed=packed)
        return encoded

    def decode(
        self,
        decoder_inputs: jax.Array,
        encoded: jax.Array,
        *,
        segments: jax.Array | None = None,
        decoder_segments: jax.Array | None = None,
        decoder_positions: jax.Array | None = None,
        cache: LayerCache = None,
        deterministic: bool = True,
        packed: bool = True,
    ) -> dict:
        segments = default_segments(encoded[..., 0], segments)
        decoder_segments = default_segments(decoder_inputs, decoder_segments)
        positions = default_positions(decoder_inputs, decoder_positions, cache_index(cache))
        y = self.embedder(decoder_inputs, positions, deterministic=deterministic)
        hidden, cache = self.decoder(
            y, decoder_segments, positions=positions, context=encoded, context_segments=segments,
            cache=cache, deterministic=deterministic, packed=packed,
        )
        return {"hidden": hidden, "logits": self.lm_head(hidden, self.embedder.token), "cache": cache}

    def __call__(
        self,
        inputs: jax.Array,
        decoder_inputs: jax.Array,
        *,
        segments: jax.Array | None = None,
        positions: jax.Array | None = None,
        decoder_segments: jax.Array | None = None,
        decoder_positions: jax.Array | None = None,
        deterministic: bool = True,
        packed: bool = True,
    ) -> dict:
        encoded = self.encode(inputs, segments=segments, positions=positions, deterministic=deterministic,
                              packed=packed)
        outputs = self.decode(
            decoder_inputs, encoded, segments=segments, decoder_segments=decoder_segments,
            decoder_positions=decoder_positions, deterministic=deterministic, packed=packed,
        )
        return {**outputs, "encoded": encoded}
