"""Tiny models and slow-but-obvious references for the inference tests: generation that reruns
the full forward pass every step, and sequence log-probabilities from one teacher-forced pass."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.data import Tokenizer
from jaxlm.models import build_model

VOCAB = 16

# variant → (family, position, scanned layers)
VARIANTS = {
    "decoder": ("decoder", "learned", False),
    "decoder_scanned": ("decoder", "rotary", True),
    "enc_dec": ("encoder_decoder", "relative", False),
    "enc_dec_scanned": ("encoder_decoder", "relative", True),
    "decoder_relative": ("decoder", "relative", False),
}

# Right-padded prompts of different lengths (0 = pad).
PROMPTS = np.array([[3, 7, 1, 12, 5], [9, 4, 0, 0, 0], [14, 2, 8, 0, 0]], np.int32)
LENGTHS = np.array([5, 2, 3], np.int32)


WORDS = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "of", "a", "dog", "ran", "to",
         "big", "red"]


class WordTokenizer(Tokenizer):
    """A whitespace tokenizer over WORDS (VOCAB words) with the ids of the tokenizer interface."""

    path, vocab_size = "words", len(WORDS)
    pad_id, cls_id, sep_id, mask_id, bos_id, eos_id = 0, 1, 2, 3, 1, 2

    def encode(self, text: str) -> np.ndarray:
        return np.array([WORDS.index(word) for word in text.split()], np.int32)

    def decode(self, ids) -> str:
        return " ".join(WORDS[int(i)] for i in ids if int(i) != self.pad_id)

    def id_to_piece(self, token: int) -> str:
        return WORDS[token]


@functools.cache
def tiny_model(variant: str, vocab_size: int = VOCAB, seed: int = 0):
    """A 2-layer model, d_model 16, no dropout; init_std 0.3 so the next-token distributions are
    neither flat nor one-hot (distinct greedy choices, rare near-ties)."""
    family, position, scan = VARIANTS[variant]
    cfg = ModelConfig(
        family=family, vocab_size=vocab_size, d_model=16, num_heads=2, d_ff=32, num_layers=2, max_length=32,
        position=position, scan_layers=scan, dropout_rate=0.0, init_std=0.3,
    )
    return build_model(cfg, seed=seed)


def encoder_config() -> ModelConfig:
    """A tiny BERT-layout encoder with a masked-LM head over WORDS."""
    return ModelConfig(family="encoder", vocab_size=len(WORDS), d_model=16, num_heads=2, d_ff=32, num_layers=2,
                       max_length=16, type_vocab_size=2, norm_position="post", embed_norm=True, final_norm=False,
                       dropout_rate=0.0, mlm_head=True, init_std=0.3)


def is_seq2seq(model) -> bool:
    return model.config.family == "encoder_decoder"


_FORWARDS: dict[int, object] = {}


def _forward(model):
    """The model's plain forward pass, jitted once per model (inputs → logits)."""
    if id(model) not in _FORWARDS:
        graphdef, state = nnx.split(model)

        @jax.jit
        def forward(state, *inputs):
            return nnx.merge(graphdef, state)(*inputs)["logits"]

        _FORWARDS[id(model)] = functools.partial(forward, state)
    return _FORWARDS[id(model)]


def full_logits(model, prompt: np.ndarray, continuation: np.ndarray, width: int = 16) -> np.ndarray:
    """Logits [n, V] predicting each continuation token, from one uncached forward pass over one
    unpadded prompt [l] and continuation [n] (decoder inputs start with the pad id for seq2seq).

    The causal part is padded at the end to a fixed `width` (later tokens cannot change earlier
    logits), so every continuation length reuses one compilation."""
    prompt, continuation = np.asarray(prompt, np.int32), np.asarray(continuation, np.int32)
    n = len(continuation)
    if is_seq2seq(model):
        decoder_inputs = np.concatenate([[model.config.pad_id], continuation[:-1]])
        padded = np.zeros(width, np.int32)
        padded[:n] = decoder_inputs
        return np.asarray(_forward(model)(prompt[None], padded[None])[0, :n])
    sequence = np.concatenate([prompt, continuation[:-1]])
    padded = np.zeros(width, np.int32)
    padded[: len(sequence)] = sequence
    return np.asarray(_forward(model)(padded[None])[0, len(prompt) - 1:][:n])


def naive_greedy(model, prompt: np.ndarray, max_new_tokens: int) -> np.ndarray:
    """Greedy continuation of one unpadded prompt [l], rerunning the whole forward pass for
    every new token (no cache)."""
    tokens: list[int] = []
    for _ in range(max_new_tokens):
        logits = full_logits(model, prompt, np.array([*tokens, 0], np.int32))
        tokens.append(int(np.argmax(logits[-1])))
    return np.array(tokens, np.int32)


def sequence_log_prob(model, prompt: np.ndarray, continuation: np.ndarray, eos_id: int | None) -> float:
    """log p(continuation | prompt), summed up to and including the first EOS."""
    continuation = np.asarray(continuation)
    if eos_id is not None and (continuation == eos_id).any():
        continuation = continuation[: int(np.argmax(continuation == eos_id)) + 1]
    logp = jax.nn.log_softmax(jnp.asarray(full_logits(model, prompt, continuation)))
    return float(jnp.take_along_axis(logp, jnp.asarray(continuation)[:, None], axis=1).sum())


def all_continuations(model, prompt: np.ndarray, length: int, eos_id: int, alpha: float):
    """Every hypothesis up to `length` tokens (cut after its first EOS), with its
    score log p / ((5 + n) / 6) ** alpha from one batched uncached forward pass.
    Returns (hypotheses [N, length] padded with -1 after the EOS, scores [N]), best first."""
    vocab = model.config.vocab_size
    grid = np.stack(np.meshgrid(*[np.arange(vocab)] * length, indexing="ij"), -1).reshape(-1, length)
    prompt = np.asarray(prompt, np.int32)
    if is_seq2seq(model):
        start = np.full((len(grid), 1), model.config.pad_id, np.int32)
        logits = _forward(model)(np.repeat(prompt[None], len(grid), 0), np.concatenate([start, grid[:, :-1]], 1))
    else:
        inputs = np.concatenate([np.repeat(prompt[None], len(grid), 0), grid[:, :-1]], 1)
        logits = _forward(model)(inputs)[:, len(prompt) - 1:]
    logp = np.asarray(jnp.take_along_axis(jax.nn.log_softmax(logits), jnp.asarray(grid)[..., None], 2)[..., 0])
    ended_before = np.cumsum(grid == eos_id, axis=1) - (grid == eos_id) > 0  # after the first EOS
    total = np.where(ended_before, 0.0, logp).sum(1)
    n = (~ended_before).sum(1)
    hypotheses = np.where(ended_before, -1, grid)
    _, first = np.unique(hypotheses, axis=0, return_index=True)
    scores = total[first] / ((5.0 + n[first]) / 6.0) ** alpha
    order = np.argsort(-scores)
    return hypotheses[first][order], scores[order]
