"""Fill-mask for an encoder with a masked-LM head: the top-k tokens for every [MASK] in a text.

    [CLS] w_1 … [MASK] … w_n [SEP]  ─ encoder ─►  p(token | context) at each [MASK]

The text is split at the literal mask marker and each piece encoded on its own, so the mask id is
placed exactly, whatever the tokenizer makes of the marker text. The tokenizer is a
`jaxlm.data.Tokenizer` with [CLS], [SEP] and [MASK] ids (ours, or BERT's WordPiece).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import JaxlmError
from jaxlm.models import EncoderModel

MASK_TOKEN = "[MASK]"


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One candidate for one [MASK]: its id, its vocabulary piece, its decoded text, p(token)."""

    token_id: int
    piece: str
    text: str
    probability: float


def encode_masked(tokenizer: Tokenizer, text: str, mask_token: str = MASK_TOKEN) -> tuple[np.ndarray, np.ndarray]:
    """text → ([CLS] ids [SEP] as int32 [l], the slots of the masks [p]), with one mask id per
    occurrence of `mask_token`."""
    parts = text.split(mask_token)
    if len(parts) == 1:
        raise JaxlmError(f"the text has no {mask_token}; write it where a token should be predicted")
    mask_id = tokenizer.require("mask_id", "fill-mask")
    ids: list[int] = [tokenizer.require("cls_id", "fill-mask")]
    for index, part in enumerate(parts):
        if index:
            ids.append(mask_id)
        if part.strip():
            ids.extend(int(t) for t in tokenizer.encode(part.strip()))
    ids.append(tokenizer.require("sep_id", "fill-mask"))
    tokens = np.asarray(ids, np.int32)
    return tokens, np.flatnonzero(tokens == mask_id).astype(np.int32)


def fill_mask(
    model: EncoderModel, tokenizer: Tokenizer, text: str, *, top_k: int = 5, mask_token: str = MASK_TOKEN
) -> list[list[Prediction]]:
    """For each [MASK] of `text`, in order, its `top_k` most likely tokens, most likely first."""
    if not isinstance(model, EncoderModel) or model.mlm_head is None:
        raise JaxlmError("fill-mask needs an encoder with a masked-LM head (model.family=encoder, model.mlm_head=true)")
    tokens, positions = encode_masked(tokenizer, text, mask_token)
    if len(tokens) > model.config.max_length:
        raise JaxlmError(f"the text is {len(tokens)} tokens with [CLS]/[SEP]; model.max_length is "
                         f"{model.config.max_length}: shorten it")
    logits = model(jnp.asarray(tokens)[None], token_types=jnp.zeros((1, len(tokens)), jnp.int32),
                   mlm_positions=jnp.asarray(positions)[None])["mlm_logits"][0]  # [p, V]
    probabilities, best = jax.lax.top_k(jax.nn.softmax(logits, axis=-1), min(top_k, logits.shape[-1]))
    return [
        [Prediction(int(t), tokenizer.id_to_piece(int(t)), tokenizer.decode([int(t)]), float(p))
         for t, p in zip(np.asarray(row_ids), np.asarray(row_probs), strict=True)]
        for row_ids, row_probs in zip(best, probabilities, strict=True)
    ]


def readable(tokenizer: Tokenizer, token: int) -> str:
    """A token as a reader sees it: its decoded text ('▁the' → 'the'); a bare word-boundary piece,
    which decodes to nothing, as '(space)'."""
    text = tokenizer.decode([token]).strip()
    piece = tokenizer.id_to_piece(token)
    return text or ("(space)" if piece == "▁" else piece)


def filled_text(text: str, predictions: list[list[Prediction]], mask_token: str = MASK_TOKEN) -> str:
    """`text` with every mask replaced by its most likely token's text."""
    parts = text.split(mask_token)
    out = [parts[0]]
    for part, candidates in zip(parts[1:], predictions, strict=True):
        out.extend([candidates[0].text, part])
    return "".join(out)
