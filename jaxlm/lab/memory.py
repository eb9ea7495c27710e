"""Predicted bytes per device: parameters, AdamW state, gradients and the activations kept for the
backward pass, from the rule table (`jaxlm.lab.layout`).

    parameters   Σ over parameters of size / (product of the mesh axes that split it) · itemsize
    optimizer    2 × parameters (AdamW's first and second moments share the parameters' shards)
    gradients    parameters (each gradient ends in its parameter's shards), plus the whole
                 (gathered) gradients that exist before their reduction: all of them outside the
                 layer stack and in an unrolled stack, one layer's in a scanned stack (its backward
                 loop reduces each layer's gradient before the next)
    batch        the batch's bytes / batch shards

Activations, per layer and per local token t (rows / batch shards × length), c the compute
itemsize, D = d_model, I = heads·head_dim and F = d_ff divided by the tensor axes that split them,
H heads per device, K the attended length; dropout keeps a 1-byte mask per D-wide output:

    remat none            6D + 4I + 2F (4F gated) in c, plus H·K softmax weights (c) per
                          attention unless the core is cuDNN's fused kernel, plus 2 masks
    remat dots            matmul outputs only: 2D + 4I + F (2F gated) + H·K scores
    remat dots_no_batch   weight matmul outputs only: 2D + 3I + F (2F gated)
    remat full            the block input D, plus one block recomputed at a time

A cross-attention sub-layer (encoder–decoder) adds 2D + 2I + H·K per target token and keeps K and
V of the encoder output (2I per source token). Outside the stack: the logits in float32 (V split
by the tensor axes) and their gradient. These are estimates of what XLA keeps; the compiled
temporaries also hold gathered weights and fusion scratch, so the comparison is flagged when off.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxlm.lab.layout import Layout, output_tokens

FLOAT32 = 4
STEP_COUNTER = 4


@dataclasses.dataclass(frozen=True)
class MemoryPrediction:
    """Predicted bytes per device."""

    parameters: float
    optimizer: float
    gradients: float
    activations: float
    batch: float

    @property
    def state(self) -> float:
        """What the train state (parameters, AdamW moments, step counter) occupies: the step's arguments
        without the batch."""
        return self.parameters + self.optimizer + STEP_COUNTER

    @property
    def working(self) -> float:
        """What the step needs beside its arguments: gradients and activations."""
        return self.gradients + self.activations


def _block_words(layout: Layout, cross: bool, key_length: int) -> tuple[float, float]:
    """(activation words per token of one block, softmax words per token) before the itemsize."""
    cfg = layout.cfg.model
    d = cfg.d_model
    inner = layout.features("heads", cfg.num_heads * cfg.resolved_head_dim)
    heads = layout.features("heads", cfg.num_heads)
    ff = layout.features("mlp", cfg.d_ff) * (2 if cfg.gated else 1)
    scores = heads * key_length if cfg.attention_impl != "cudnn" else 0.0
    if cfg.remat == "dots":
        words, weights = 2 * d + 4 * inner + ff, scores
    elif cfg.remat == "dots_no_batch":
        words, weights = 2 * d + 3 * inner + ff, 0.0
    else:
        words, weights = 6 * d + 4 * inner + 2 * ff, scores
    if cross:
        words, weights = words + 2 * d + 2 * inner, weights + scores
    return words, weights


def activation_bytes(layout: Layout) -> float:
    """Activations kept for the backward pass on one device (module docstring)."""
    cfg = layout.cfg.model
    compute = np.dtype(cfg.dtype).itemsize
    masks = 3 if cfg.dropout_rate > 0 else 0
    stacks = [("source", cfg.num_layers, False)]
    if cfg.family == "encoder_decoder":
        stacks.append(("target", cfg.resolved_decoder_layers, True))
    total = 0.0
    for count, layers, cross in stacks:
        tokens = layout.local_tokens(count)
        length = layout.tokens[count] / layout.tokens["rows"]
        words, weights = _block_words(layout, cross, int(length))
        block = tokens * ((words + weights) * compute + masks)
        if cross:
            encoder_kv = 2 * layout.features("heads", cfg.num_heads * cfg.resolved_head_dim)
            block += layout.local_tokens("source") * encoder_kv * compute
        if cfg.remat == "full":
            total += layers * tokens * cfg.d_model * compute + block
        else:
            total += layers * block
    outputs = output_tokens(layout)
    if outputs:
        total += 2 * layout.local_tokens(outputs) * layout.features("vocab", cfg.vocab_size) * FLOAT32
    return total


def unreduced_gradients(layout: Layout) -> float:
    """Bytes of whole gradients beyond their shards that exist at once (see `gradients` above)."""
    scanned = layout.cfg.model.scan_layers
    total = 0.0
    for tensor in layout.tensors:
        extra = layout.gathered_bytes(tensor) - tensor.local_bytes
        if scanned and tensor.in_layer_stack:
            extra /= tensor.shape[0]
        total += extra
    return total


def predict_memory(layout: Layout) -> MemoryPrediction:
    """Bytes per device of every kind (module docstring)."""
    parameters = sum(tensor.local_bytes for tensor in layout.tensors)
    return MemoryPrediction(
        parameters=parameters, optimizer=2 * parameters, gradients=parameters + unreduced_gradients(layout),
        activations=activation_bytes(layout), batch=layout.batch_bytes,
    )
