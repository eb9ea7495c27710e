"""Tiny transformers models with odd sizes and fully random weights, padded batches, greedy loops.

Every weight (norm scales and biases included) is perturbed away from its initial value, so a
mapping that drops or swaps a tensor shows in the logits.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import torch
import transformers

VOCAB, WIDTH, HEADS, FF, POSITIONS = 101, 30, 3, 37, 41
TOLERANCE = 1e-4


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Add N(0, 0.1²) noise to every parameter (tied ones once) and switch to eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
    return model.eval()


def bert_config(**extra: object) -> transformers.BertConfig:
    return transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=HEADS, intermediate_size=FF,
        max_position_embeddings=POSITIONS, type_vocab_size=3, **extra,
    )


def bert(architecture: str = "BertForPreTraining") -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    return randomize(getattr(transformers, architecture)(bert_config(num_labels=5)))


def gpt2(tied: bool = True) -> transformers.GPT2LMHeadModel:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_embd=WIDTH, n_layer=2, n_head=HEADS, n_inner=FF, n_positions=POSITIONS,
        bos_token_id=None, eos_token_id=None, tie_word_embeddings=tied,
    )
    return randomize(transformers.GPT2LMHeadModel(config))


T5_VARIANTS = ("v1.0", "v1.1", "v1.1-tied")


def t5(variant: str) -> transformers.T5ForConditionalGeneration:
    """v1.0: relu, tied and scaled output. v1.1: gated-GELU, untied and unscaled. v1.1-tied: what
    transformers 5 builds from a gated-gelu config (tied and scaled)."""
    torch.manual_seed(0)
    config = transformers.T5Config(
        vocab_size=VOCAB, d_model=WIDTH, d_kv=7, d_ff=FF, num_layers=2, num_decoder_layers=3, num_heads=HEADS,
        relative_attention_num_buckets=10, relative_attention_max_distance=17,
        feed_forward_proj="relu" if variant == "v1.0" else "gated-gelu",
        **({"tie_word_embeddings": False} if variant == "v1.1" else {}),
    )
    model = transformers.T5ForConditionalGeneration(config)
    if variant == "v1.1":  # transformers 5 ties in memory regardless; untie as a v1.1 checkpoint is.
        model.lm_head.weight = torch.nn.Parameter(torch.randn(VOCAB, WIDTH) * 0.2)
    return randomize(model)


def padded_batch(lengths: list[int], width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids [b, width] (pads = 0 after each row's length) and the 0/1 mask."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, VOCAB, (len(lengths), width)).astype(np.int32)
    mask = (np.arange(width)[None, :] < np.array(lengths)[:, None]).astype(np.int32)
    return ids * mask, mask


def relative_error(ours: object, reference: object, mask: np.ndarray | None = None) -> float:
    """max |ours − reference| / max |reference|, over the positions where `mask` is set."""
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    if mask is not None:
        ours, reference = ours[mask.astype(bool)], reference[mask.astype(bool)]
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def torch_ids(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=torch.long)


def hf_greedy(model: transformers.PreTrainedModel, steps: int, **inputs: np.ndarray) -> np.ndarray:
    """transformers' greedy search for exactly `steps` new tokens (no EOS stop). Without its cache:
    transformers 5's T5 cache assumes as many decoder as encoder layers, and a full recompute
    each step is the more independent reference anyway."""
    model.generation_config.eos_token_id = None
    if model.config.is_encoder_decoder:
        model.generation_config.decoder_start_token_id = 0
    with torch.no_grad():
        out = model.generate(**{k: torch_ids(v) for k, v in inputs.items()}, max_new_tokens=steps,
                             do_sample=False, num_beams=1, pad_token_id=0, use_cache=False)
    return out.numpy()


def jaxlm_greedy_decoder(model: object, prompt: np.ndarray, steps: int) -> np.ndarray:
    """Prefill the KV cache with the prompt, then feed back the argmax token `steps` times."""
    cache = model.init_cache(prompt.shape[0], prompt.shape[1] + steps)
    out = model(jnp.asarray(prompt), cache=cache)
    tokens = []
    for _ in range(steps):
        token = jnp.argmax(out["logits"][:, -1], axis=-1).astype(jnp.int32)
        tokens.append(token)
        out = model(token[:, None], cache=out["cache"])
    return np.concatenate([prompt, np.stack(tokens, axis=1)], axis=1)


def jaxlm_greedy_seq2seq(model: object, inputs: np.ndarray, mask: np.ndarray, steps: int, start: int = 0) -> np.ndarray:
    """Encode once; decode from `start` one token at a time with the decoder's KV cache."""
    encoded = model.encode(jnp.asarray(inputs), segments=jnp.asarray(mask))
    cache = model.init_cache(inputs.shape[0], steps + 1)
    token = jnp.full((inputs.shape[0],), start, jnp.int32)
    tokens = [token]
    for _ in range(steps):
        out = model.decode(token[:, None], encoded, segments=jnp.asarray(mask), cache=cache)
        cache = out["cache"]
        token = jnp.argmax(out["logits"][:, -1], axis=-1).astype(jnp.int32)
        tokens.append(token)
    return np.stack(tokens, axis=1)
