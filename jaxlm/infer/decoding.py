"""Incremental decoding with the KV cache, for both generative families.

`prefill` runs the prompt once and returns the logits of the first new token plus a
`DecodeState`; `step` feeds one token per row and returns the next logits. Sampling
(`generate.py`) and beam search (`beam_search.py`) are loops over these two functions.

Ragged prompts (decoder family). The cache has one write index for the whole batch, so every
row's next token must go to the same slot. Prompts arrive right-padded with their lengths n_b;
`left_pad` shifts each row right so that its tokens end at slot L − 1 (the pads move to the
front, with segment 0, which masks them out as keys), and gives the real tokens positions
0 … n_b − 1 (per-row positions, not slots). Every
row then writes its next token at slot L with its own position n_b. The distance between two real
tokens' slots equals the distance between their positions, so relative position biases (computed
from slots, T5) see the same distances as an unpadded row: a batch decodes exactly as its rows
would alone.

Encoder–decoder family: the (right-padded) input is encoded once; the decoder starts from
`decoder_start_id` (T5: the pad id 0) at slot 0 for every row, so no alignment is needed.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxlm.errors import JaxlmError
from jaxlm.models import DecoderModel, EncoderDecoderModel
from jaxlm.nn.attention import KVCache
from jaxlm.nn.stack import LayerCache

GenerativeModel = DecoderModel | EncoderDecoderModel


class DecodeState(NamedTuple):
    """What the next `step` needs. cache: the decoder's KV cache (b rows); positions [b]: the
    position of the next token fed; encoded [b, ls, d] and encoder_segments [b, ls]: the encoder
    output and its segments (None for the decoder family)."""

    cache: LayerCache
    positions: jax.Array
    encoded: jax.Array | None = None
    encoder_segments: jax.Array | None = None


def left_pad(tokens: jax.Array, lengths: jax.Array, pad_id: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Right-padded tokens [b, L] with lengths [b] → (tokens, segments, positions), each [b, L],
    with row b's tokens moved to slots L − n_b … L − 1, segment 1 and positions 0 … n_b − 1
    there; pads (segment 0, position 0) before them."""
    length = tokens.shape[1]
    source = jnp.arange(length)[None, :] - (length - lengths)[:, None]  # [b, L]: slot → prompt index
    real = source >= 0
    source = jnp.maximum(source, 0)
    padded = jnp.where(real, jnp.take_along_axis(tokens, source, axis=1), pad_id)
    return padded.astype(jnp.int32), real.astype(jnp.int32), source.astype(jnp.int32)


def _check_length(model: GenerativeModel, needed: int, what: str) -> None:
    cfg = model.config
    if cfg.position == "learned" and needed > cfg.max_length:
        raise JaxlmError(
            f"{what} = {needed} exceeds model.max_length={cfg.max_length} (learned positions); "
            "shorten the prompt or lower max_new_tokens"
        )


def prefill(
    model: GenerativeModel,
    prompt: jax.Array,
    lengths: jax.Array,
    *,
    max_new_tokens: int,
    decoder_start_id: int,
) -> tuple[jax.Array, DecodeState]:
    """Run the prompt [b, L] (right-padded, lengths [b]) → (logits of the first new token
    [b, V], state). The cache holds room for `max_new_tokens` more tokens fed by `step`."""
    batch, length = prompt.shape
    if isinstance(model, EncoderDecoderModel):
        _check_length(model, max(length, max_new_tokens + 1), "max(input length, max_new_tokens + 1)")
        segments = (jnp.arange(length)[None, :] < lengths[:, None]).astype(jnp.int32)
        encoded = model.encode(prompt, segments=segments)
        state = DecodeState(model.init_cache(batch, max_new_tokens + 1), jnp.zeros((batch,), jnp.int32),
                            encoded, segments)
        return step(model, jnp.full((batch,), decoder_start_id, jnp.int32), state)
    _check_length(model, length + max_new_tokens, "prompt length + max_new_tokens")
    tokens, segments, positions = left_pad(prompt, lengths, model.config.pad_id)
    cache = model.init_cache(batch, length + max_new_tokens)
    out = model(tokens, segments=segments, positions=positions, cache=cache)
    return out["logits"][:, -1], DecodeState(out["cache"], lengths.astype(jnp.int32))


def step(model: GenerativeModel, tokens: jax.Array, state: DecodeState) -> tuple[jax.Array, DecodeState]:
    """Feed one token per row (tokens [b]) → (logits of the next token [b, V], new state)."""
    inputs = tokens[:, None].astype(jnp.int32)
    positions = state.positions[:, None]
    if state.encoded is not None:
        out = model.decode(
            inputs, state.encoded, segments=state.encoder_segments, decoder_positions=positions, cache=state.cache
        )
    else:
        out = model(inputs, positions=positions, cache=state.cache)
    return out["logits"][:, 0], state._replace(cache=out["cache"], positions=state.positions + 1)


def select_rows(state: DecodeState, rows: jax.Array) -> DecodeState:
    """The state of rows `rows` [n] (any order, repeats allowed), for tiling a batch across beams
    and reordering beams. Gathers every per-row array: the cache's keys, values and segments
    (behind any leading [layers] axis) but not its shared index, and the positions and encoder
    output."""

    def take(a: jax.Array, axis: int) -> jax.Array:
        return jnp.take(a, rows, axis=axis)

    def cache_rows(c: KVCache) -> KVCache:
        return KVCache(take(c.key, c.key.ndim - 4), take(c.value, c.value.ndim - 4),
                       take(c.segments, c.segments.ndim - 2), c.index)

    cache = jax.tree.map(cache_rows, state.cache, is_leaf=lambda x: isinstance(x, KVCache))
    rest = [None if a is None else take(a, 0) for a in (state.positions, state.encoded, state.encoder_segments)]
    return DecodeState(cache, *rest)
