"""`jaxlm convert`: Hugging Face folders ↔ jaxlm model-only checkpoints.

    jaxlm convert --from-hf path/to/gpt2 --out ckpt/gpt2     # config.yaml + params/ (train.init_from=ckpt/gpt2)
    jaxlm convert --to-hf ckpt/gpt2 --out hf/gpt2            # config.json + model.safetensors
"""

from __future__ import annotations

import argparse
import pathlib

from jaxlm.config import ModelConfig

HELP = "convert a Hugging Face BERT/GPT-2/T5 folder to a jaxlm checkpoint (--from-hf) or back (--to-hf)"

OBJECTIVES = {"decoder": "causal_lm", "encoder_decoder": "span_corruption"}
# The optional packages each direction imports (none is a dependency of jaxlm itself).
NEEDS = {"from_hf": ("safetensors", "torch"), "to_hf": ("safetensors", "transformers")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-hf", metavar="DIR", help="a Hugging Face folder: config.json + model.safetensors "
                        "or pytorch_model.bin")
    source.add_argument("--to-hf", metavar="CKPT", help="a jaxlm model-only checkpoint: config.yaml + params/")
    parser.add_argument("--out", required=True, help="the folder to write")
    parser.add_argument("--architecture", help="override config.json's architecture (e.g. BertForPreTraining)")
    parser.add_argument("--scan-layers", action="store_true", help="write the checkpoint with stacked, scanned layers")


def _objective(cfg: ModelConfig) -> str:
    if cfg.family == "encoder":
        return "classification" if cfg.num_labels else "mlm_nsp"
    return OBJECTIVES[cfg.family]


def _check_installed(direction: str) -> None:
    import importlib

    from jaxlm.errors import JaxlmError

    missing = []
    for name in NEEDS[direction]:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        flag, names = direction.replace("_", "-"), " and ".join(missing)
        raise JaxlmError(f"convert --{flag} needs {names}, not installed; pip install {' '.join(missing)}")


def run(args: argparse.Namespace) -> int:
    from jaxlm.config import Config, DataConfig
    from jaxlm.models import count_params

    _check_installed("from_hf" if args.from_hf else "to_hf")

    if args.from_hf:
        from jaxlm.interop import load_hf_folder
        from jaxlm.interop.hf_config import hf_architecture
        from jaxlm.train.params_io import save_params

        model_cfg, model = load_hf_folder(args.from_hf, architecture=args.architecture, scan_layers=args.scan_layers)
        name = pathlib.Path(args.from_hf).resolve().name
        cfg = Config(model=model_cfg, name=name, data=DataConfig(objective=_objective(model_cfg)))
        out = save_params(args.out, model, cfg)
        print(f"{args.from_hf} ({hf_architecture(model_cfg)}) -> {out}: {count_params(model):,} parameters; "
              f"fine-tune with train.init_from={out}")
        return 0

    from jaxlm.interop import save_hf_folder
    from jaxlm.interop.hf_config import hf_architecture
    from jaxlm.train.params_io import load_params

    cfg, model = load_params(args.to_hf)
    out = save_hf_folder(model, args.out)
    print(f"{args.to_hf} -> {out} ({hf_architecture(cfg.model)}): {count_params(model):,} parameters")
    return 0
