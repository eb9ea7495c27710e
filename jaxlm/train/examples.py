"""A few qualitative samples after training: fill-mask for encoders, greedy continuations for
decoders and encoder–decoders. Prompts are fixed sentences in the embedded corpus's domain (the
Python reference documentation)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from flax import nnx

from jaxlm.config import Config
from jaxlm.data import Tokenizer

MASKED_PROMPTS = (
    "The [MASK] statement is used to define a function.",
    "A list is a [MASK] sequence of items.",
    "Exceptions are raised with the [MASK] statement.",
    "The return value of the function is [MASK].",
)
PROMPTS = (
    "The function returns",
    "A class definition",
    "If the object is",
    "The module",
)


def _fill_mask(model: nnx.Module, tokenizer: object, count: int, console: Callable[[str], None]) -> None:
    from jaxlm.infer.fill_mask import fill_mask

    for text in MASKED_PROMPTS[:count]:
        (candidates,) = fill_mask(model, tokenizer, text, top_k=3)
        shown = " | ".join(f"{c.text or c.piece!r} {c.probability:.2f}" for c in candidates)
        console(f"  {text}  →  {shown}")


def _generate(cfg: Config, model: nnx.Module, tokenizer: object, count: int, console: Callable[[str], None]) -> None:
    from jaxlm.infer.generate import generate

    prompts = PROMPTS[:count]
    encoded = [tokenizer.encode(text) for text in prompts]
    if cfg.model.family == "decoder":
        encoded = [np.concatenate([[] if tokenizer.bos_id is None else [tokenizer.bos_id], ids]) for ids in encoded]
    else:
        encoded = [np.concatenate([ids, [tokenizer.sentinel(0)], [tokenizer.eos_id]]) for ids in encoded]
    width = max(len(ids) for ids in encoded)
    tokens = np.full((len(encoded), width), cfg.model.pad_id, np.int32)
    for row, ids in enumerate(encoded):
        tokens[row, : len(ids)] = ids
    lengths = np.array([len(ids) for ids in encoded], np.int32)
    new = np.asarray(generate(model, tokens, lengths, max_new_tokens=16, eos_id=tokenizer.eos_id))
    for text, row in zip(prompts, new, strict=True):
        ids = [int(t) for t in row if t not in (cfg.model.pad_id, tokenizer.eos_id)]
        console(f"  {text} → {tokenizer.decode(ids)!r}")


def print_examples(
    cfg: Config, model: nnx.Module, tokenizer: Tokenizer, console: Callable[[str], None] = print
) -> None:
    """Print `cfg.train.examples` samples from `model` (nothing for classification models)."""
    count = cfg.train.examples
    if not count or cfg.data.objective == "classification":
        return
    if cfg.model.family == "encoder":
        if cfg.model.mlm_head:
            console("fill-mask examples:")
            _fill_mask(model, tokenizer, count, console)
        return
    console("greedy generations:")
    _generate(cfg, model, tokenizer, count, console)
