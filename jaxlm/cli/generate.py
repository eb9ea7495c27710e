"""`jaxlm generate CONFIG_OR_CKPT --prompt TEXT [...]`: continue prompts with a trained decoder or
encoder–decoder model, by sampling (greedy, temperature, top-k, top-p) or beam search.

    jaxlm generate gpt2_tiny --prompt "The function returns" --max-new-tokens 20 --top-p 0.9 --temperature 0.8
    jaxlm generate t5_tiny --prompt "A list is a <extra_id_0> of items." --beams 4
    jaxlm generate ckpt/gpt2 --prompt "Hello" --prompt "The module"     # a model-only checkpoint

CONFIG_OR_CKPT is a config (preset name or YAML; the model comes from the newest good checkpoint
in its run's workdir), a run workdir (holding checkpoints/), or a model-only checkpoint folder
(config.yaml + params/). The tokenizer is the run's (`jaxlm.data.load_tokenizer`).
"""

from __future__ import annotations

import argparse
import pathlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jaxlm.config import Config
    from jaxlm.models import Model

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


def load_trained_model(target: str, overrides: list[str], workdir: str = "") -> tuple[Config, Model]:
    """(config, model) from a model-only checkpoint folder, a run workdir, or a config whose run
    has checkpoints (newest good one). Raises JaxlmError when no trained weights are found."""
    from jaxlm.config import config_from_dict, load_config
    from jaxlm.train.loop import workdir_for
    from jaxlm.train.params_io import CONFIG_FILE, PARAMS_DIR, load_params
    from jaxlm.train.session import load_session

    path = pathlib.Path(target)
    if (path / CONFIG_FILE).is_file() and (path / PARAMS_DIR).is_dir():
        cfg, model = load_params(path)
        return (config_from_dict(cfg.to_dict(), overrides) if overrides else cfg), model
    if path.is_dir():
        run_dir, extra = path, [f"workdir={path}"]
    else:
        extra = [f"workdir={workdir}"] if workdir else []
        run_dir = workdir_for(load_config(target, [*overrides, *extra]))
    session, _ = load_session(run_dir, [*overrides, *extra])
    return session.cfg, session.model()


def encode_prompt(tokenizer, text: str, family: str, objective: str) -> list[int]:
    """Prompt ids: [BOS] + text for a decoder; for an encoder–decoder the text (with
    `<extra_id_N>` written as sentinel N; span-corruption models get <extra_id_0> appended when
    the text has none) + [EOS]."""
    if family == "decoder":
        return [tokenizer.bos_id, *(int(t) for t in tokenizer.encode(text))]
    ids: list[int] = []
    pieces = SENTINEL.split(text)  # text, sentinel number, text, …
    for index, piece in enumerate(pieces):
        if index % 2:
            ids.append(tokenizer.sentinel(int(piece)))
        elif piece.strip():
            ids.extend(int(t) for t in tokenizer.encode(piece.strip()))
    if objective == "span_corruption" and len(pieces) == 1:
        ids.append(tokenizer.sentinel(0))
    return [*ids, tokenizer.eos_id]


def decode_new(tokenizer, ids: Sequence[int]) -> str:
    """The text of generated ids, up to (not including) the first EOS."""
    ids = [int(t) for t in ids]
    if tokenizer.eos_id in ids:
        ids = ids[: ids.index(tokenizer.eos_id)]
    return tokenizer.decode(ids)


def run(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from jaxlm.data import load_tokenizer
    from jaxlm.errors import JaxlmError
    from jaxlm.infer.beam_search import beam_search
    from jaxlm.infer.generate import check_generative, generate
    from jaxlm.infer.sampling import SamplingConfig

    temperature = args.temperature
    if temperature is None:
        temperature = 1.0 if args.top_k or args.top_p < 1.0 else 0.0
    SamplingConfig(temperature, args.top_k, args.top_p)  # reject bad settings before loading
    if args.max_new_tokens < 1 or args.beams < 1:
        raise JaxlmError(f"--max-new-tokens={args.max_new_tokens} and --beams={args.beams} must be >= 1")
    cfg, model = load_trained_model(args.config, list(args.overrides), args.workdir)
    check_generative(model)
    tokenizer = load_tokenizer(cfg)
    encoded = [encode_prompt(tokenizer, text, cfg.model.family, cfg.data.objective) for text in args.prompt]
    tokens = np.full((len(encoded), max(len(ids) for ids in encoded)), tokenizer.pad_id, np.int32)
    for row, ids in enumerate(encoded):
        tokens[row, : len(ids)] = ids
    lengths = np.array([len(ids) for ids in encoded], np.int32)
    if args.beams > 1:
        sequences, scores = beam_search(
            model, tokens, lengths, beam_size=args.beams, max_new_tokens=args.max_new_tokens, alpha=args.alpha,
            eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id,
        )
        for text, beams, beam_scores in zip(args.prompt, np.asarray(sequences), np.asarray(scores), strict=True):
            print(text)
            for ids, score in zip(beams, beam_scores, strict=True):
                print(f"  [{score:8.3f}] {decode_new(tokenizer, ids)}")
        return 0
    new = generate(
        model, tokens, lengths, max_new_tokens=args.max_new_tokens, temperature=temperature,
        top_k=args.top_k, top_p=args.top_p, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id,
        rng=jax.random.key(args.seed),
    )
    for text, ids in zip(args.prompt, np.asarray(new), strict=True):
        print(f"{text} → {decode_new(tokenizer, ids)}")
    return 0
