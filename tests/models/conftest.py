"""Shared tiny models: each variant is built once per session and called through one jitted
`apply`, so every shape compiles once."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from jaxlm.config import ModelConfig, load_config
from jaxlm.models import EncoderDecoderModel, EncoderModel, build_model

TINY = ("model.d_model=16", "model.num_heads=2", "model.d_ff=32", "model.num_layers=2",
        "model.vocab_size=61", "model.max_length=32")

# variant → (preset, overrides on top of TINY)
VARIANTS = {
    "gpt2": ("gpt2_tiny", ()),
    "rotary_swiglu": ("gpt2_tiny", ("model.position=rotary", "model.norm=rmsnorm", "model.activation=silu",
                                    "model.gated=true", "model.use_bias=false", "model.tie_embeddings=false")),
    "bert": ("bert_tiny", ("model.num_labels=3",)),
    "t5": ("t5_tiny", ()),
    "t5_v1_1": ("t5_tiny", ("model.activation=gelu_tanh", "model.gated=true", "model.tie_embeddings=false",
                            "model.scale_tied_logits=false", "model.num_decoder_layers=3")),
}
DECODERS = ["gpt2", "rotary_swiglu"]
ENCODER_DECODERS = ["t5", "t5_v1_1"]


def tiny_config(variant: str, *overrides: str) -> ModelConfig:
    preset, extra = VARIANTS[variant]
    return load_config(preset, [*TINY, *extra, *overrides]).model


@pytest.fixture(scope="session")
def tiny_model():
    """tiny_model(variant, *overrides) → the model, built once per session (seed 0)."""
    built = {}

    def get(variant: str, *overrides: str):
        key = (variant, overrides)
        if key not in built:
            built[key] = build_model(tiny_config(variant, *overrides), seed=0)
        return built[key]

    return get


@nnx.jit(static_argnames="method")
def _apply(model, *args, method="__call__", **kwargs):
    return getattr(model, method)(*args, **kwargs)


@pytest.fixture(scope="session")
def apply():
    """apply(model, *args, method='__call__', **kwargs): the model's method under one `nnx.jit`."""
    return _apply


def _ones(x):
    return np.ones(x.shape, np.int32)


def _arange(x):
    return np.broadcast_to(np.arange(x.shape[1], dtype=np.int32), x.shape)


@pytest.fixture(scope="session")
def forward():
    """forward(model, inputs[, decoder_inputs], **kwargs): the model's full forward pass with every
    optional input filled in (segments 1, positions 0..l-1, token types 0), so that calls
    differing only in values share one compilation."""
    def run(model, inputs, decoder_inputs=None, **kwargs):
        kwargs.setdefault("segments", _ones(inputs))
        kwargs.setdefault("positions", _arange(inputs))
        if isinstance(model, EncoderModel):
            kwargs.setdefault("token_types", np.zeros_like(inputs))
            return _apply(model, inputs, **kwargs)
        if isinstance(model, EncoderDecoderModel):
            kwargs.setdefault("decoder_segments", _ones(decoder_inputs))
            kwargs.setdefault("decoder_positions", _arange(decoder_inputs))
            return _apply(model, inputs, decoder_inputs, **kwargs)
        return _apply(model, inputs, **kwargs)

    return run
