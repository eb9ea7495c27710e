"""Beam search with a length penalty, over the KV cache, for encoder–decoder and decoder models.

Score of a finished hypothesis y (n tokens, its EOS included) — GNMT's length penalty:

    score(y) = log p(y | x) / lp(n),   lp(n) = ((5 + n) / 6) ** alpha     (alpha = 0: plain log p)

Algorithm, per row of the batch (b rows × k beams, all under one `jax.jit`):

    prefill the prompt once, then tile the cache k times (rows b·k);
    live = k hypotheses with log-probs [0, −∞, …, −∞] (all beams start equal; only one expands)
    for t in 0 … max_new_tokens − 1:
        candidates = live log-prob + log_softmax(logits)      [b, k·V]; keep the top 2k
        ending in EOS → merged into `finished` (top k by score) if among the best k candidates,
                        dropped otherwise (so beam size 1 is exactly greedy decoding)
        the rest      → the top k become the new live beams; the cache rows are reordered by
                        their parent beam, and their last tokens fed to the model
        stop early when no live beam can still beat the worst finished one (for alpha ≥ 0
        its best reachable score is its log-prob / lp(max_new_tokens), log-probs only fall)
    at the end, live beams that never emitted EOS compete as finished at length max_new_tokens.

Impossible hypotheses carry log-prob −∞ (e.g. the k − 1 copies at the start); they come out
only when fewer than k hypotheses exist at all (tiny vocabularies), with score −∞.

Keeping 2k candidates guarantees k non-EOS ones to continue even if k of them end in EOS.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.errors import JaxlmError
from jaxlm.infer.decoding import GenerativeModel, prefill, select_rows, step
from jaxlm.infer.generate import check_generative, prompt_lengths_or_full

NEG_INF = -jnp.inf


def length_penalty(length: jax.Array | int, alpha: float) -> jax.Array:
    """((5 + n) / 6) ** alpha, GNMT's normaliser for a hypothesis of n tokens."""
    return ((5.0 + jnp.asarray(length, jnp.float32)) / 6.0) ** alpha


def beam_search(
    model: GenerativeModel,
    prompt_tokens: jax.Array,
    prompt_lengths: jax.Array | None = None,
    *,
    beam_size: int,
    max_new_tokens: int,
    alpha: float = 0.6,
    eos_id: int | None = None,
    pad_id: int | None = None,
    decoder_start_id: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """The `beam_size` best continuations of each prompt, best first.

    Inputs as for `generate.generate`. Returns (sequences [b, k, max_new_tokens] int32, each
    with its EOS and then `pad_id`; scores [b, k] float32 = log p / lp(n) as above).
    """
    check_generative(model)
    if beam_size < 1 or max_new_tokens < 1:
        raise JaxlmError(f"beam_size={beam_size} and max_new_tokens={max_new_tokens} must be >= 1")
    if alpha < 0:
        raise JaxlmError(f"length penalty alpha={alpha} must be >= 0")
    graphdef, state = nnx.split(model)
    return _beam_search(
        graphdef, state, jnp.asarray(prompt_tokens, jnp.int32), prompt_lengths_or_full(prompt_tokens, prompt_lengths),
        beam_size=beam_size, max_new_tokens=max_new_tokens, alpha=float(alpha), eos_id=eos_id,
        pad_id=model.config.pad_id if pad_id is None else pad_id,
        decoder_start_id=model.config.pad_id if decoder_start_id is None else decoder_start_id,
    )


def _top(scores: jax.Array, count: int, *arrays: jax.Array) -> tuple[jax.Array, ...]:
    """The `count` best entries along axis 1 of scores [b, n] and of each array [b, n, …]."""
    best, index = jax.lax.top_k(scores, count)
    return best, *(jnp.take_along_axis(a, index.reshape(index.shape + (1,) * (a.ndim - 2)), axis=1) for a in arrays)


@functools.partial(
    jax.jit, static_argnames=("graphdef", "beam_size", "max_new_tokens", "alpha", "eos_id", "pad_id",
                              "decoder_start_id"),
)
def _beam_search(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    prompt: jax.Array,
    lengths: jax.Array,
    *,
    beam_size: int,
    max_new_tokens: int,
    alpha: float,
    eos_id: int | None,
    pad_id: int,
    decoder_start_id: int,
) -> tuple[jax.Array, jax.Array]:
    batch, k, steps = prompt.shape[0], beam_size, max_new_tokens
    logits, decode_state = prefill(
        nnx.merge(graphdef, state), prompt, lengths, max_new_tokens=steps, decoder_start_id=decoder_start_id
    )
    tiled = jnp.repeat(jnp.arange(batch), k)  # row r·k + j is beam j of prompt r
    logits, decode_state = logits[tiled], select_rows(decode_state, tiled)
    vocab = logits.shape[-1]
    candidates = min(2 * k, k * vocab)
    worst_bound = length_penalty(steps, alpha)

    def body(carry: tuple) -> tuple:
        t, logits, decode_state, live, live_logp, finished, finished_score, state = carry
        logp = jax.nn.log_softmax(logits.astype(jnp.float32)).reshape(batch, k, vocab)
        flat = (live_logp[:, :, None] + logp).reshape(batch, k * vocab)
        cand_logp, cand_index = jax.lax.top_k(flat, candidates)  # [b, 2k]
        parent, token = cand_index // vocab, (cand_index % vocab).astype(jnp.int32)
        cand_seqs = jnp.take_along_axis(live, parent[:, :, None], axis=1).at[:, :, t].set(token)
        ends = (token == eos_id) if eos_id is not None else jnp.zeros_like(token, bool)
        in_top_k = jnp.arange(candidates) < k
        cand_score = jnp.where(ends & in_top_k, cand_logp / length_penalty(t + 1, alpha), NEG_INF)
        finished_score, finished = _top(
            jnp.concatenate([finished_score, cand_score], 1), k, jnp.concatenate([finished, cand_seqs], 1)
        )
        live_logp, live, parent, token = _top(jnp.where(ends, NEG_INF, cand_logp), k, cand_seqs, parent, token)
        rows = (jnp.arange(batch)[:, None] * k + parent).reshape(-1)
        logits, decode_state = step(nnx.merge(graphdef, state), token.reshape(-1), select_rows(decode_state, rows))
        return t + 1, logits, decode_state, live, live_logp, finished, finished_score, state

    def cond(carry: tuple) -> jax.Array:
        t, _, _, _, live_logp, _, finished_score, _ = carry
        hopeless = finished_score[:, -1] >= live_logp[:, 0] / worst_bound
        return (t < steps) & ~jnp.all(hopeless)

    live = jnp.full((batch, k, steps), pad_id, jnp.int32)
    live_logp = jnp.where(jnp.arange(k) == 0, 0.0, NEG_INF)[None].repeat(batch, 0)
    finished_score = jnp.full((batch, k), NEG_INF, jnp.float32)
    carry = (jnp.zeros((), jnp.int32), logits, decode_state, live, live_logp, live, finished_score, state)
    _, _, _, live, live_logp, finished, finished_score, _ = jax.lax.while_loop(cond, body, carry)
    # Beams cut off at max_new_tokens count as finished there; fewer than k finished rows need them.
    scores, sequences = _top(
        jnp.concatenate([finished_score, live_logp / worst_bound], 1), k, jnp.concatenate([finished, live], 1)
    )
    return sequences, scores
