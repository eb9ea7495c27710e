"""`jaxlm generate CONFIG_OR_CKPT --prompt TEXT [...]`: continue prompts with a trained decoder or
encoder–decoder model, by sampling (greedy, temperature, top-k, top-p) or beam search.

    jaxlm generate gpt2_tiny --prompt "The function returns" --max-new-tokens 20 --top-p 0.9 --temperature 0.8
    jaxlm generate t5_tiny --prompt "A list is a <extra_id_0> of items." --beams 4
    jaxlm generate ckpt/gpt2 --prompt "Hello" --prompt "The module"     # a model-only checkpoint

CONFIG_OR_CKPT is a config (preset name or YAML; the model comes from the newest good checkpoint
in its run's workdir), a run workdir (holding checkpoints/), or a model-only checkpoint folder
(config.yaml + params/). The tokenizer is the one kept in that folder (`jaxlm.train.trained`).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

HELP = "continue text prompts with a trained decoder or encoder-decoder (sampling or beam search)"

SENTINEL = re.compile(r"<extra_id_(\d+)>")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """CONFIG_OR_CKPT [key=value ...] and --workdir: where a trained model is found."""
    parser.add_argument("config", metavar="CONFIG_OR_CKPT",
                        help="a config (preset name or YAML) whose run has checkpoints, a run workdir, "
                        "or a model-only checkpoint folder (config.yaml + params/)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys")
    parser.add_argument("--workdir", default="", help="run directory (default: the config's, else runs/<name>)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--prompt", action="append", required=True, help="prompt text; repeat for a batch")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens to generate per prompt")
    parser.add_argument("--temperature", type=float, default=None,
                        help="softmax temperature; 0 = greedy (the default, unless --top-k/--top-p ask to sample: 1)")
    parser.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0 = off)")
    parser.add_argument("--top-p", type=float, default=1.0, help="sample within the nucleus of mass p (1 = off)")
    parser.add_argument("--beams", type=int, default=1,
                        help="beam search with this many beams (> 1; the sampling options are then unused)")
    parser.add_argument("--alpha", type=float, default=0.6, help="beam search length penalty exponent")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed for sampling")


def encode_prompt(tokenizer, text: str, family: str, objective: str) -> list[int]:
    """Prompt ids: [BOS] + text for a decoder (the text alone for a tokenizer without BOS, as
    GPT-2's); for an encoder–decoder the text (with
    `<extra_id_N>` written as sentinel N; span-corruption models get <extra_id_0> appended when
    the text has none) + [EOS]."""
    if family == "decoder":
        return [*([] if tokenizer.bos_id is None else [tokenizer.bos_id]), *(int(t) for t in tokenizer.encode(text))]
    ids: list[int] = []
    pieces = SENTINEL.split(text)  # text, sentinel number, text, …
    for index, piece in enumerate(pieces):
        if index % 2:
            ids.append(tokenizer.sentinel(int(piece)))
        elif piece.strip():
            ids.extend(int(t) for t in tokenizer.encode(piece.strip()))
    if objective == "span_corruption" and len(pieces) == 1:
        ids.append(tokenizer.sentinel(0))
    return [*ids, tokenizer.require("eos_id", "an encoder-decoder prompt")]


def decode_new(tokenizer, ids: Sequence[int]) -> str:
    """The text of generated ids, up to (not including) the first EOS."""
    ids = [int(t) for t in ids]
    if tokenizer.eos_id in ids:
        ids = ids[: ids.index(tokenizer.eos_id)]
    return tokenizer.decode(ids)


def run(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from jaxlm.errors import JaxlmError
    from jaxlm.infer.beam_search import beam_search
    from jaxlm.infer.generate import check_generative, generate
    from jaxlm.infer.sampling import SamplingConfig
    from jaxlm.train.trained import load_trained

    temperature = args.temperature
    if temperature is None:
        temperature = 1.0 if args.top_k or args.top_p < 1.0 else 0.0
    SamplingConfig(temperature, args.top_k, args.top_p)  # reject bad settings before loading
    if args.max_new_tokens < 1 or args.beams < 1:
        raise JaxlmError(f"--max-new-tokens={args.max_new_tokens} and --beams={args.beams} must be >= 1")
    cfg, model, tokenizer = load_trained(args.config, list(args.overrides), args.workdir)
    check_generative(model)
    encoded = [encode_prompt(tokenizer, text, cfg.model.family, cfg.data.objective) for text in args.prompt]
    pad_id = cfg.model.pad_id
    tokens = np.full((len(encoded), max(len(ids) for ids in encoded)), pad_id, np.int32)
    for row, ids in enumerate(encoded):
        tokens[row, : len(ids)] = ids
    lengths = np.array([len(ids) for ids in encoded], np.int32)
    if args.beams > 1:
        sequences, scores = beam_search(
            model, tokens, lengths, beam_size=args.beams, max_new_tokens=args.max_new_tokens, alpha=args.alpha,
            eos_id=tokenizer.eos_id, pad_id=pad_id,
        )
        for text, beams, beam_scores in zip(args.prompt, np.asarray(sequences), np.asarray(scores), strict=True):
            print(text)
            for ids, score in zip(beams, beam_scores, strict=True):
                print(f"  [{score:8.3f}] {decode_new(tokenizer, ids)}")
        return 0
    new = generate(
        model, tokens, lengths, max_new_tokens=args.max_new_tokens, temperature=temperature,
        top_k=args.top_k, top_p=args.top_p, eos_id=tokenizer.eos_id, pad_id=pad_id,
        rng=jax.random.key(args.seed),
    )
    for text, ids in zip(args.prompt, np.asarray(new), strict=True):
        print(f"{text} → {decode_new(tokenizer, ids)}")
    return 0
