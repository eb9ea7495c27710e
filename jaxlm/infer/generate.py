"""Autoregressive generation with the KV cache: greedy or sampled, for decoder and
encoder–decoder models.

Algorithm (all inside one `jax.jit` over the model's functional state):

    logits, state = prefill(prompt)                 # one pass over the prompt [b, L]
    for i in 0 … max_new_tokens − 1  (lax.while_loop, stops early once every row is done):
        token_i = sample(logits, fold_in(rng, i))   # [b]; pad_id in rows already done
        done |= token_i == eos_id
        logits, state = step(token_i, state)        # one cached single-token pass

The model is split once per call into a graph definition (static) and a state pytree (traced);
`nnx.merge` rebuilds it inside the jitted function, so jit caches the compiled loop per graph
definition, shapes and settings. The model state also rides in the loop carry (unchanged) and
the body merges its own copy: NNX refuses to lift variables traced outside a `lax` loop into an
`nnx.scan` (scanned layers) inside it. Ragged prompts are left-padded (see `decoding.py`), so a
batch generates exactly what each of its rows would alone.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlm.errors import JaxlmError
from jaxlm.infer.decoding import GenerativeModel, prefill, step
from jaxlm.infer.sampling import SamplingConfig, sample
from jaxlm.models import DecoderModel, EncoderDecoderModel


def prompt_lengths_or_full(prompt_tokens: jax.Array, prompt_lengths: jax.Array | None) -> jax.Array:
    """The lengths [b] as int32 (every row full when not given), checked to lie in [1, L]."""
    batch, length = np.shape(prompt_tokens)
    if prompt_lengths is None:
        return jnp.full((batch,), length, jnp.int32)
    lengths = np.asarray(prompt_lengths)
    if lengths.shape != (batch,) or lengths.min() < 1 or lengths.max() > length:
        raise JaxlmError(f"prompt_lengths {lengths.tolist()} must give one length in [1, {length}] per prompt row")
    return jnp.asarray(lengths, jnp.int32)


def check_generative(model: nnx.Module) -> None:
    if not isinstance(model, DecoderModel | EncoderDecoderModel):
        raise JaxlmError(
            f"generation needs a decoder or encoder_decoder model, not {type(model).__name__}; "
            "for an encoder use fill-mask"
        )


def generate(
    model: GenerativeModel,
    prompt_tokens: jax.Array,
    prompt_lengths: jax.Array | None = None,
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    eos_id: int | None = None,
    pad_id: int | None = None,
    decoder_start_id: int | None = None,
    rng: jax.Array | None = None,
) -> jax.Array:
    """Continue each prompt by up to `max_new_tokens` tokens.

    prompt_tokens [b, L] int32, right-padded; prompt_lengths [b] (default: all L; ≥ 1 for the
    decoder family). For an encoder–decoder model the prompt is the encoder input and decoding
    starts from `decoder_start_id` (default: the pad id, as in T5). temperature 0 is greedy
    (top_k / top_p then unused); see `sampling.SamplingConfig`. A row stops after emitting
    `eos_id` (None: never). rng: a PRNG key (default key 0); the same key and batch give the same
    tokens (step i draws with fold_in(rng, i) for the whole batch, so a sampled row also depends
    on the rows beside it; greedy rows do not).

    Returns the new tokens [b, max_new_tokens] int32: the EOS included, `pad_id` (default the
    model's) after it.
    """
    check_generative(model)
    if max_new_tokens < 1:
        raise JaxlmError(f"max_new_tokens={max_new_tokens} must be >= 1")
    pad = model.config.pad_id if pad_id is None else pad_id
    start = model.config.pad_id if decoder_start_id is None else decoder_start_id
    graphdef, state = nnx.split(model)
    return _generate(
        graphdef, state, jnp.asarray(prompt_tokens, jnp.int32), prompt_lengths_or_full(prompt_tokens, prompt_lengths),
        jax.random.key(0) if rng is None else rng,
        sampling=SamplingConfig(temperature, top_k, top_p), max_new_tokens=max_new_tokens,
        eos_id=eos_id, pad_id=pad, decoder_start_id=start,
    )


@functools.partial(
    jax.jit, static_argnames=("graphdef", "sampling", "max_new_tokens", "eos_id", "pad_id", "decoder_start_id")
)
def _generate(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    prompt: jax.Array,
    lengths: jax.Array,
    rng: jax.Array,
    *,
    sampling: SamplingConfig,
    max_new_tokens: int,
    eos_id: int | None,
    pad_id: int,
    decoder_start_id: int,
) -> jax.Array:
    model = nnx.merge(graphdef, state)
    batch = prompt.shape[0]
    logits, decode_state = prefill(
        model, prompt, lengths, max_new_tokens=max_new_tokens, decoder_start_id=decoder_start_id
    )

    def body(carry: tuple) -> tuple:
        i, tokens, done, logits, decode_state, state = carry
        token = jnp.where(done, pad_id, sample(logits, jax.random.fold_in(rng, i), sampling))
        tokens = tokens.at[:, i].set(token)
        if eos_id is not None:
            done = done | (token == eos_id)
        logits, decode_state = step(nnx.merge(graphdef, state), token, decode_state)
        return i + 1, tokens, done, logits, decode_state, state

    def cond(carry: tuple) -> jax.Array:
        i, _, done, *_ = carry
        return (i < max_new_tokens) & ~jnp.all(done)

    tokens = jnp.full((batch, max_new_tokens), pad_id, jnp.int32)
    done = jnp.zeros((batch,), bool)
    carry = (jnp.zeros((), jnp.int32), tokens, done, logits, decode_state, state)
    return jax.lax.while_loop(cond, body, carry)[1]
