"""Shared tiny models: each variant is built once per session and called through one jitted
`apply`, so every shape compiles once."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx
from tiny_models import tiny_config

from jaxlm.models import EncoderDecoderModel, EncoderModel, build_model


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
