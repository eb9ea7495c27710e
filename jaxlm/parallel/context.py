"""Context parallelism: every sequence split along `length` over the `context` mesh axis, through
the whole block.

Position-wise work (embeddings, norms, feed-forward, the loss) needs nothing new: the rule table
maps `length` to context and each of the n devices holds l/n tokens. Attention needs every key
for every query; the keys come to the queries in one of two ways, both written below with
`jax.shard_map` (manual over context only; the other mesh axes stay with XLA):

    all_gather  each device all-gathers K and V (all l tokens) and attends its l/n queries to
                them: one collective, but the whole sequence's K and V sit on every device.
    ring        the n blocks of K and V travel round the ring (`ppermute` to the next device);
                at each of n steps a device folds the block it holds into a running softmax
                (the flash-attention recurrence, s = scale·q kᵀ masked, per query row):
                    m' = max(m, max s),  ℓ' = ℓ·e^(m−m') + Σ e^(s−m'),  o' = o·e^(m−m') + e^(s−m')·v
                and returns o/ℓ: no device ever holds more than two blocks of K and V.

Causal load balancing: with contiguous blocks the last device's queries see every key and the
first device's only its own. `enter` cuts the sequence into 2n chunks and gives device i chunks
i and 2n−1−i, `leave` puts them back; between the two, masks compare each token's original
slot. In the ring every step past the first then costs every device the same: of its 2×2 chunk
pairs, exactly two lie wholly in the past (computed) and two wholly in the future (skipped).
Non-causal attention (the encoder) keeps the contiguous order.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from jaxlm.config import Config, ConfigError
from jaxlm.config.parallel import ContextAttention
from jaxlm.errors import JaxlmError
from jaxlm.nn.attention_core import attention_weights, combine_values
from jaxlm.nn.masks import attention_mask

AXIS = "context"
_SEQUENCE = P(None, AXIS)  # [batch, length, ...]: length split over context, the rest left to XLA
_MASKED = jnp.finfo(jnp.float32).min
_ROW_AXES = (2, 2, 1)  # the query-row axis of the running (max, denominator, output)


def check_sequence(cfg: Config, sizes: Mapping[str, int]) -> None:
    """ConfigError unless the model and sequence length can be split over context (and over tensor
    too under sequence parallelism)."""
    context, tensor = sizes["context"], sizes["tensor"]
    model, length = cfg.model, cfg.data.seq_length
    if context > 1:
        if model.family == "encoder_decoder" or model.position == "relative":
            raise ConfigError(
                f"parallel.context={context} splits encoder or decoder sequences only, without relative "
                f"position bias; model {model.family} with position={model.position} needs parallel.context=1"
            )
        if model.attention_dropout_rate:
            raise ConfigError(
                f"parallel.context={context} has no attention dropout; set model.attention_dropout_rate=0"
            )
    split = {}  # what cuts each sequence: {key text: pieces}
    if context > 1:
        causal = model.family == "decoder"
        split["2*parallel.context" if causal else "parallel.context"] = 2 * context if causal else context
    if cfg.parallel.sequence_parallel:
        split["parallel.tensor"] = tensor
    pieces = math.prod(split.values())
    if length % pieces:
        raise ConfigError(
            f"data.seq_length={length} does not split into {pieces} pieces ({'*'.join(split)}); "
            f"set data.seq_length to a multiple of {pieces}"
        )


def _natural(n: int) -> list[tuple[int, int]]:
    """Device i holds chunks 2i and 2i+1 of 2n: contiguous blocks."""
    return [(2 * i, 2 * i + 1) for i in range(n)]


def _balanced(n: int) -> list[tuple[int, int]]:
    """Device i holds chunks i and 2n−1−i: one early, one late."""
    return [(i, 2 * n - 1 - i) for i in range(n)]


def _move_chunks(x: jax.Array, source: list[tuple[int, int]], target: list[tuple[int, int]]) -> jax.Array:
    """Local x [b, 2c, ...] holds chunks source[i] on device i → the chunks target[i], in order.

    In both layouts every device holds one even and one odd chunk, so one ppermute moves every
    even chunk to the device that holds it in `target` and another every odd one.
    """
    me = jax.lax.axis_index(AXIS)
    home = {chunk: device for device, chunks in enumerate(target) for chunk in chunks}
    halves = jnp.split(x, 2, axis=1)
    received = []
    for parity in (0, 1):
        slot = [next(k for k in (0, 1) if chunks[k] % 2 == parity) for chunks in source]
        send = jnp.where(jnp.asarray(slot)[me] == 0, halves[0], halves[1])
        moves = [(device, home[chunks[slot[device]]]) for device, chunks in enumerate(source)]
        received.append(jax.lax.ppermute(send, AXIS, moves))
    even_first = jnp.asarray([chunks[0] % 2 == 0 for chunks in target])[me]
    return jnp.where(even_first, jnp.concatenate(received, axis=1), jnp.concatenate(received[::-1], axis=1))


def _slots(device: jax.Array | int, n: int, chunk: int) -> jax.Array:
    """The original sequence slots of the tokens `device` holds in the balanced order: [2·chunk]."""
    offsets = jnp.arange(chunk)
    return jnp.concatenate([device * chunk + offsets, (2 * n - 1 - device) * chunk + offsets])


def _mask(q_segments, k_segments, q_slots, k_slots) -> jax.Array:
    """The model's mask rule (`nn.masks`), causal over the tokens' original slots when slots are
    given: [b, 1, lq, lk]."""
    mask = attention_mask(q_segments, k_segments, causal=False)
    if q_slots is not None:
        mask = mask & (k_slots[None, :] <= q_slots[:, None])[None, None]
    return mask


def _fold(acc: tuple, q, k, v, mask, scale: float) -> tuple:
    """One block of the online softmax: acc = (m [b,h,lq], ℓ [b,h,lq], o [b,lq,h,d]) in float32.

    Masked scores sit at the most negative float like the reference core's, so a query with no
    visible key yet accumulates a uniform average that its first visible key then wipes out.
    """
    m, denominator, out = acc
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32) * scale
    scores = jnp.where(mask, scores, _MASKED)
    m_new = jnp.maximum(m, scores.max(axis=-1))
    correction = jnp.exp(m - m_new)
    p = jnp.exp(scores - m_new[..., None])
    denominator = denominator * correction + p.sum(axis=-1)
    values = jnp.einsum("bhqk,bkhd->bqhd", p.astype(v.dtype), v, preferred_element_type=jnp.float32)
    out = out * jnp.swapaxes(correction, 1, 2)[..., None] + values
    return m_new, denominator, out


def _ring_attention(q, k, v, segments, *, causal: bool, scale: float) -> jax.Array:
    """Per device: q, k, v [b, lq, h, d] and segments [b, lq] of this device's tokens → [b, lq, h, d]."""
    n, me = jax.lax.axis_size(AXIS), jax.lax.axis_index(AXIS)
    b, lq, h, _ = q.shape
    c = lq // 2
    slots = (lambda device: _slots(device, n, c)) if causal else (lambda device: None)
    acc = (jnp.full((b, h, lq), _MASKED), jnp.zeros((b, h, lq)), jnp.zeros(q.shape, jnp.float32))
    to_next = [(i, (i + 1) % n) for i in range(n)]

    def earlier(acc, k, v, mask):  # the block's chunks precede ours: every query, its first chunk only
        return _fold(acc, q, k[:, :c], v[:, :c], mask[..., :c], scale)

    def later(acc, k, v, mask):  # they follow our first chunk: only our second attends, to both
        late = jax.tree.map(lambda a, axis: jax.lax.slice_in_dim(a, c, None, axis=axis), acc, _ROW_AXES)
        late = _fold(late, q[:, c:], k, v, mask[:, :, c:], scale)
        return jax.tree.map(lambda a, new, axis: jax.lax.dynamic_update_slice_in_dim(a, new, c, axis),
                            acc, late, _ROW_AXES)

    kv = (k, v, segments)
    for step in range(n):
        if step:
            kv = jax.tree.map(lambda a: jax.lax.ppermute(a, AXIS, to_next), kv)
        k, v, k_segments = kv
        source = (me - step) % n  # the device whose block we hold now
        mask = _mask(segments, k_segments, slots(me), slots(source))
        if step == 0 or not causal:
            acc = _fold(acc, q, k, v, mask, scale)
        else:
            acc = jax.lax.cond(source < me, earlier, later, acc, k, v, mask)
    _, denominator, out = acc
    return (out / jnp.swapaxes(denominator, 1, 2)[..., None]).astype(q.dtype)


def _all_gather_attention(q, k, v, segments, *, causal: bool, scale: float) -> jax.Array:
    """Per device: gather every device's K, V and segments, attend the local queries to all of them."""
    n, me = jax.lax.axis_size(AXIS), jax.lax.axis_index(AXIS)
    c = q.shape[1] // 2
    k, v, k_segments = (jax.lax.all_gather(a, AXIS, axis=1, tiled=True) for a in (k, v, segments))
    q_slots = _slots(me, n, c) if causal else None
    k_slots = jnp.concatenate([_slots(i, n, c) for i in range(n)]) if causal else None
    mask = _mask(segments, k_segments, q_slots, k_slots)
    return combine_values(attention_weights(q, k, mask, None, scale), v)


_CORES = {"ring": _ring_attention, "all_gather": _all_gather_attention}


@dataclasses.dataclass(frozen=True)
class ContextParallel:
    """The `jaxlm.nn.hooks.ContextHook` for the current mesh's context axis."""

    attention: ContextAttention = "ring"

    @staticmethod
    def _size(length: int, causal: bool) -> int:
        """The context axis size n, once `length` is known to split into n blocks (2n chunks if causal)."""
        n = jax.sharding.get_abstract_mesh().shape[AXIS]
        pieces = 2 * n if causal else n
        if length % pieces:
            raise JaxlmError(
                f"sequence length {length} does not split into {pieces} pieces over parallel.context={n}; "
                f"pad sequences to a multiple of {pieces}"
            )
        return n

    @staticmethod
    def _per_device(fn, *args):
        """fn on each device's block of the sequence; called as is where context is already manual
        (inside the pipeline's shard_map, which splits sequences over context itself)."""
        if AXIS in jax.sharding.get_abstract_mesh().manual_axes:
            return fn(*args)
        specs = tuple(_SEQUENCE for _ in args)
        return jax.shard_map(fn, in_specs=specs, out_specs=_SEQUENCE, axis_names={AXIS})(*args)

    def enter(self, x: jax.Array, *, causal: bool) -> jax.Array:
        """[b, l, ...] in sequence order → the order the devices attend in (balanced if causal)."""
        n = self._size(x.shape[1], causal)
        if not causal:
            return x
        return self._per_device(lambda a: _move_chunks(a, _natural(n), _balanced(n)), x)

    def leave(self, x: jax.Array, *, causal: bool) -> jax.Array:
        """The inverse of `enter`."""
        n = self._size(x.shape[1], causal)
        if not causal:
            return x
        return self._per_device(lambda a: _move_chunks(a, _balanced(n), _natural(n)), x)

    def attend(self, q, k, v, segments, *, causal: bool, scale: float) -> jax.Array:
        """Self-attention [b, l, h, d] → [b, l, h, d] with l split over context, per `attention`
        (`enter` has checked the length)."""
        core = _CORES[self.attention]
        return self._per_device(lambda *a: core(*a, causal=causal, scale=scale), q, k, v, segments)
