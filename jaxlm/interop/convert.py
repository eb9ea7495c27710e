"""Hugging Face ↔ jaxlm for in-memory models and state dicts.

    from jaxlm.interop import from_hf, to_state_dict
    cfg, model = from_hf(hf_model)                  # a transformers BERT / GPT-2 / T5 model
    cfg, model = from_hf(hf_model, scan_layers=True)  # jaxlm-only settings as overrides
    state = to_state_dict(model)                    # {name: numpy array} that transformers loads

torch and transformers are imported only inside the functions that need them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from jaxlm.config import ModelConfig
from jaxlm.interop import bert, gpt2, t5
from jaxlm.interop.hf_config import (
    BERT_ARCHITECTURES,
    GPT2_ARCHITECTURES,
    architecture_of,
    hf_architecture,
    hf_config_from_model,
    model_config_from_hf,
)
from jaxlm.interop.layout import load_weights, model_weights
from jaxlm.interop.mapping import export_weights, import_weights
from jaxlm.models import Model, build_model


def family_module(architecture: str) -> ModuleType:
    """The weight-mapping module (bert, gpt2 or t5) of a supported transformers architecture."""
    if architecture in BERT_ARCHITECTURES:
        return bert
    if architecture in GPT2_ARCHITECTURES:
        return gpt2
    return t5


def _is_tied(state: Mapping[str, np.ndarray], keys: tuple[str, str]) -> bool:
    """An output projection is tied when the checkpoint omits it or it equals the embedding."""
    output, embedding = keys
    if output not in state or embedding not in state:
        return True
    return state[output].shape == state[embedding].shape and np.array_equal(state[output], state[embedding])


def from_state_dict(
    hf_config: Mapping[str, Any], state: Mapping[str, np.ndarray], *, architecture: str | None = None,
    **overrides: Any,
) -> tuple[ModelConfig, Model]:
    """A jaxlm config and model from a Hugging Face config (config.json keys) and state dict
    ({name: numpy array}). `architecture` overrides config.json's `architectures[0]`."""
    architecture = architecture_of({**hf_config, "architectures": [architecture]} if architecture else dict(hf_config))
    family = family_module(architecture)
    state = {family.normalize_keys(key): value for key, value in state.items()}
    cfg = model_config_from_hf(dict(hf_config), architecture, tied=_is_tied(state, family.TIED), **overrides)
    model = build_model(cfg)
    rules, aliases = family.rules(cfg)
    weights = import_weights(state, rules, aliases, model_weights(model), architecture=architecture,
                             ignored=family.IGNORED)
    load_weights(model, weights)
    return cfg, model


def torch_to_numpy(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A torch state dict as float32 (floating tensors) numpy arrays."""
    import torch

    def convert(tensor: torch.Tensor) -> np.ndarray:
        tensor = tensor.detach().cpu()
        return (tensor.to(torch.float32) if tensor.is_floating_point() else tensor).numpy()

    return {key: convert(value) for key, value in state.items()}


def from_hf(hf_model: Any, **overrides: Any) -> tuple[ModelConfig, Model]:
    """A jaxlm config and model equal to an in-memory transformers model (BertForPreTraining,
    BertForMaskedLM, BertForSequenceClassification, GPT2LMHeadModel, T5ForConditionalGeneration).
    `overrides` set jaxlm-only fields: scan_layers, attention_impl, dtype, remat, …"""
    architecture = type(hf_model).__name__
    state = torch_to_numpy(hf_model.state_dict())
    return from_state_dict(hf_model.config.to_dict(), state, architecture=architecture, **overrides)


def to_state_dict(model: Model, *, include_tied: bool = True) -> dict[str, np.ndarray]:
    """The Hugging Face state dict of a jaxlm model, float32. With `include_tied` (default) tied
    copies are included under every name, so `hf_model.load_state_dict(..., strict=True)` works;
    without, they are left out as `save_pretrained` does."""
    cfg = model.config
    rules, aliases = family_module(hf_architecture(cfg)).rules(cfg)
    weights = {path: value.astype(np.float32) for path, value in model_weights(model).items()}
    return export_weights(weights, rules, aliases if include_tied else {})


def to_hf_config(cfg: ModelConfig) -> dict[str, Any]:
    """The config.json of the transformers model equivalent to `cfg` (needs transformers)."""
    import transformers

    model_type, architecture, kwargs = hf_config_from_model(cfg)
    config = transformers.AutoConfig.for_model(model_type, **kwargs).to_dict()
    config["architectures"] = [architecture]
    if model_type == "t5":  # transformers 5 forces tie_word_embeddings=True in memory; the file keeps ours.
        config["tie_word_embeddings"] = cfg.tie_embeddings
        config["scale_decoder_outputs"] = cfg.scale_tied_logits
    return config
