"""`jaxlm fill-mask CONFIG_OR_CKPT --text "the [MASK] of" [...]`: a trained encoder's top-k
predictions for every [MASK] in a text.

    jaxlm fill-mask bert_tiny --text "A list is a [MASK] sequence of items." --top-k 5

CONFIG_OR_CKPT is found as for `jaxlm generate`: a config whose run has checkpoints, a run
workdir, or a model-only checkpoint folder.
"""

from __future__ import annotations

import argparse

from jaxlm.cli.generate import add_model_arguments

HELP = "predict the tokens behind each [MASK] in a text with a trained encoder (masked-LM head)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--text", action="append", required=True, help="text with [MASK]s; repeat for more texts")
    parser.add_argument("--top-k", type=int, default=5, help="predictions shown per [MASK]")


def run(args: argparse.Namespace) -> int:
    from jaxlm.errors import JaxlmError
    from jaxlm.infer.fill_mask import MASK_TOKEN, fill_mask, filled_text, readable
    from jaxlm.train.trained import load_trained

    if args.top_k < 1:
        raise JaxlmError(f"--top-k={args.top_k} must be >= 1")
    missing = [text for text in args.text if MASK_TOKEN not in text]
    if missing:
        raise JaxlmError(f"--text '{missing[0]}' has no {MASK_TOKEN}; write it where a token should be predicted")
    _, model, tokenizer = load_trained(args.config, list(args.overrides), args.workdir)
    for text in args.text:
        predictions = fill_mask(model, tokenizer, text, top_k=args.top_k)
        print(filled_text(text, predictions))
        for index, candidates in enumerate(predictions):
            shown = "  ".join(f"{readable(tokenizer, c.token_id)} {c.probability:.3f}" for c in candidates)
            print(f"  [MASK] {index + 1}: {shown}")
    return 0
