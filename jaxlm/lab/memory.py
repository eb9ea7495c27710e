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

    remat none            6D + 4I + 2F (4F gated) in c, plus s·H·K attention scores in float32,
                          plus 2 masks
    remat dots            matmul outputs only: 2D + 4I + F (2F gated) in c + H·K scores
    remat dots_no_batch   weight matmul outputs only: 2D + 3I + F (2F gated)
    remat full            the block input D, plus one block recomputed at a time

s counts the score-sized float32 tensors an attention core keeps (SCORE_TENSORS; read from the
compiled buffers on CPU): XLA's core (`jax.nn.dot_product_attention`) its masked scores,
exponentials and probabilities; the reference and all-gather cores (`jax.nn.softmax`) the
probabilities and the copy of them the backward's Pᵀ·dO reads; the ring each block's masked
scores and exponentials; cuDNN's fused kernel none.

A cross-attention sub-layer (encoder–decoder) adds 2D + 2I + H·K per target token and keeps K and
V of the encoder output (2I per source token). Under context parallelism a device keeps its piece
of each sequence (t divided by context; K stays the whole length: the ring keeps every block's
scores, the causal ring's skipped blocks included, as both branches of its `cond` keep theirs).
Sequence parallelism (https://arxiv.org/abs/2205.05198 §4.2.2) splits the D-wide terms (norms,
dropout, residual adds) over tensor too, except each sub-layer's input: all-gathered along the
sequence for its column-parallel matmuls, it is kept whole for their weight gradients (Megatron-LM
gathers it again in the backward pass instead), so 4 D-wide terms of 6 are split. With p
pipeline stages a device holds L/p layers but keeps them for all m + p − 1 ticks of b/m rows:
× (m + p − 1)/m. Outside the stack: the output projection's input (D per output token, whole: it
is gathered under sequence parallelism too) and the logits in float32 (V split by the tensor
axes) with their gradient. These are estimates of what XLA keeps; the compiled temporaries also
hold gathered weights and fusion scratch, so the comparison is flagged when off.
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


# Score-sized float32 tensors each attention core keeps for the backward pass (module docstring).
SCORE_TENSORS = {"xla": 3, "reference": 2, "cudnn": 0, "all_gather": 2, "ring": 2}


def _block_words(layout: Layout, cross: bool, key_length: int) -> tuple[float, float]:
    """(activation words per token of one block in the compute dtype, float32 score words per token)."""
    cfg = layout.cfg.model
    d = cfg.d_model / (layout.sizes.get("tensor", 1) if layout.cfg.parallel.sequence_parallel else 1)
    inner = layout.features("heads", cfg.num_heads * cfg.resolved_head_dim)
    heads = layout.features("heads", cfg.num_heads)
    ff = layout.features("mlp", cfg.d_ff) * (2 if cfg.gated else 1)
    scores = heads * key_length
    core = layout.cfg.parallel.context_attention if layout.sequence_shards > 1 else cfg.attention_impl
    if cfg.remat == "dots":
        words, kept = 2 * d + 4 * inner + ff, scores
    elif cfg.remat == "dots_no_batch":
        words, kept = 2 * d + 3 * inner + ff, 0.0
    else:
        words, kept = 6 * d + 4 * inner + 2 * ff, SCORE_TENSORS[core] * scores
    if cross:  # its own norm and output, and a core of cfg.attention_impl
        words += 2 * d + 2 * inner
        kept += scores * (1 if cfg.remat == "dots" else 0 if cfg.remat == "dots_no_batch"
                          else SCORE_TENSORS[cfg.attention_impl])
    return words, kept


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
        layers //= layout.stages
        tokens = layout.local_tokens(count) * layout.ticks_per_microbatch
        length = layout.tokens[count] / layout.tokens["rows"]
        words, scores = _block_words(layout, cross, int(length))
        block = tokens * (words * compute + scores * FLOAT32 + masks)
        if cross:
            encoder_kv = 2 * layout.features("heads", cfg.num_heads * cfg.resolved_head_dim)
            block += layout.local_tokens("source") * encoder_kv * compute
        if cfg.remat == "full":
            total += layers * tokens * cfg.d_model * compute + block
        else:
            total += layers * block
    outputs = output_tokens(layout)
    if outputs:
        vocab = layout.features("vocab", cfg.vocab_size)
        total += layout.local_tokens(outputs) * (cfg.d_model * compute + 2 * vocab * FLOAT32)
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
