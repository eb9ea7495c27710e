"""Predicted collectives of one train step: which the rule table implies, over which mesh axes, and
how many bytes each device moves (counted as `jaxlm.lab.hlo` counts the compiled ones).

With BA the batch axes, a parameter's gathered axes G = its mesh axes ∩ BA (FSDP) and its
tensor axes = its other mesh axes, t the local tokens of its matmul, c the compute itemsize:

1. Weight gathers. A parameter sharded over G is all-gathered before use: local·(g−1) bytes.
   XLA reuses the gathered weight in the backward pass of an unrolled stack; a scanned or
   rematerialised block gathers it again (×2). So does a weight also split by tensor axes when
   the backward pass wants it in another layout — observed for the tied embedding, and for layer
   kernels when the batch spans a data axis beside G (XLA's choice, not a rule-table fact).
2. Lookups. A table whose 'embed' dimension is split over G is not gathered for a lookup: the
   looked-up rows are exchanged instead, an all-to-all of t·D in the forward and the backward pass
   (unless the table is smaller than those rows: then it is gathered like a weight).
   A table whose rows ('vocab') are split over tensor axes T is looked up locally and summed: an
   all-reduce over T of t·D.
3. Tensor parallelism (Megatron, inserted by GSPMD). A matmul whose contracting dimension is split
   over T ends in an all-reduce over T of its output t·out·c (row parallel: attention output, wo;
   c is 4 where the compiler computes bfloat16 matmuls in float32, as XLA:CPU does);
   one whose output dimension is split over T (column parallel: q, k, v, wi, the vocab projection)
   all-reduces its input gradient t·in·c in the backward pass. Full remat recomputes the forward
   all-reduces a block needs again (all but its last sub-layer's).
4. Vocab-parallel loss. Softmax cross-entropy over vocab-split logits all-reduces 3 floats per
   token (max, sum of exponentials, target logit), and the accuracy metric one more (the count of
   logits as high as the target's, `objectives/losses.py`): 4 × 4 bytes per token.
5. Gradients. Each parameter's gradient is summed over BA. On GPU and TPU XLA reduce-scatters it
   over G and all-reduces the shard over BA∖G. The CPU compiler has neither ReduceScatterCreator
   nor AllReduceReassociate: it all-reduces the full gradient over BA, once per use of the
   parameter (a tied embedding: once for the lookup, once for the output projection).

The dimensions that split sequences and the layer stack (t now the device's piece of its rows'
sequences, D = d_model, K the key/value width per tensor shard, x the compute itemsize):

6. Sequence parallelism (Megatron SP, https://arxiv.org/abs/2205.05198 §4.2.2): the residual
   stream is split along the sequence over tensor, so each in-stack sum of mechanism 3 becomes a
   reduce-scatter into the split stream and an all-gather out of it, the same bytes in total
   (an all-reduce is a reduce-scatter then an all-gather). XLA:CPU has no reduce-scatter pass:
   it keeps the all-reduce, slices, and adds the all-gather.
7. Context parallelism c (ring attention, https://arxiv.org/abs/2310.01889): per layer K and V
   travel c − 1 steps round the ring, 2·t·K·x per step forward and their gradients the same way
   back; the all-gather variant gathers K and V (2·t·c·K·x, (c−1)/c of it moved) and
   reduce-scatters their gradients. A causal stack reorders x into the load-balanced chunks and
   back (`parallel.context`), t·D·x forward and backward each way. Position tables split over
   context are gathered for their lookup; every gradient is summed over context as over a batch
   axis (XLA:CPU: a separate all-reduce per axis). Segment ids travel beside K and V: int32, not
   predicted.
8. Pipeline stages p with m microbatches (GPipe, https://arxiv.org/abs/1811.06965): each of the
   m + p − 1 ticks sends a microbatch's activations t/m·D·x to the next stage (collective-permute)
   and back in the backward pass, where the stage-0 input's gradient is also summed over stage;
   the last stage's outputs are broadcast to all stages (an all-reduce of m·t/m·D·x). XLA
   reduces the stack's gradients over the batch axes inside the backward loop: once per tick.
   The scaling book's pipelining chapter (https://jax-ml.github.io/scaling-book/training/)
   derives the bubble (p − 1)/(m + p − 1) the roofline adds (`roofline.executed_flops`).

Not predicted: scalar all-reduces (loss, gradient norm), resharding copies XLA adds on its own
(collective-permutes), int32 segment ids passed with activations; together they are a few
hundred bytes on the tiny test models.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from jaxlm.lab.hlo import KINDS
from jaxlm.lab.layout import Layout, Tensor, lookups, output_tokens, tokens_through

FLOAT32 = 4


@dataclasses.dataclass(frozen=True)
class Traffic:
    """One predicted collective per step: kind, mesh axes of its group, bytes per device, why."""

    kind: str
    axes: tuple[str, ...]
    bytes: float
    count: int
    why: str
    mechanism: str = ""


@dataclasses.dataclass(frozen=True)
class Compiler:
    """What the platform's XLA pipeline does to GSPMD's collectives (mechanisms 3 and 5).

    float32_dots: the compiler computes bfloat16 matmuls in float32 (XLA:CPU has no bf16 dot), so
    the all-reduces of their partial sums move float32.
    """

    reduce_scatter: bool
    reassociate: bool
    float32_dots: bool


COMPILERS = {"cpu": Compiler(False, False, True), "gpu": Compiler(True, True, False),
             "tpu": Compiler(True, True, False)}


def all_gather(result: float, g: int) -> float:
    return result * (g - 1) / g


def all_reduce(size: float, g: int) -> float:
    return 2 * size * (g - 1) / g


def _axes(tensor: Tensor, dim: int | None, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    return () if dim is None else tuple(a for a in tensor.axes[dim] if a not in exclude)


def _exchanged(layout: Layout, tensor: Tensor) -> bool:
    """Whether a table's lookups exchange rows (all-to-alls): its 'embed' dimension is split over
    batch axes only, and the whole table is no smaller than the rows a device looks up (XLA gathers
    a smaller table, BERT's token types, instead)."""
    axes = _axes(tensor, tensor.dim("embed"))
    if not axes or any(a not in layout.batch_axes for a in axes):
        return False
    rows = max(layout.local_tokens(count) for count in lookups(layout, tensor)) * tensor.shape[tensor.dim("embed")]
    return math.prod(tensor.shape) >= rows


def _is_table(tensor: Tensor) -> bool:
    return tensor.path[0] == "embedder"


def _tied_output(layout: Layout, tensor: Tensor) -> bool:
    return (tensor.path[:2] == ("embedder", "token") and layout.cfg.model.tie_embeddings
            and bool(output_tokens(layout)))


def _layers(tensor: Tensor) -> int:
    """Layers a tensor stands for on one device: a scanned stack's leading 'layers' dimension (its
    stage's share of it), else 1."""
    return tensor.shape[0] // tensor.shards(0) if tensor.names and tensor.names[0] == "layers" else 1


def _matmul(layout: Layout, tensor: Tensor) -> tuple[int, int, str] | None:
    """(contracting dim, output dim, token count) of a parameter's matmul, None if it has none."""
    if _tied_output(layout, tensor):
        return tensor.dim("embed"), tensor.dim("vocab"), output_tokens(layout)
    if tensor.path[-1] == "kernel" and len(tensor.shape) >= 2:
        n = len(tensor.shape)
        return n - 2, n - 1, tokens_through(layout, tensor)
    return None


def weight_gathers(layout: Layout) -> list[Traffic]:
    cfg = layout.cfg.model
    out = []
    for tensor in layout.tensors:
        gathered = tuple(a for a in layout.batch_axes if a in tensor.mesh_axes)
        if not gathered or (_is_table(tensor) and not _tied_output(layout, tensor) and _exchanged(layout, tensor)):
            continue
        split_by_tensor = any(a not in layout.batch_axes for a in tensor.mesh_axes)
        data_beside = any(a not in gathered for a in layout.batch_axes)
        regathered = split_by_tensor and (_tied_output(layout, tensor) or data_beside)
        again = regathered or (tensor.in_layer_stack and (cfg.scan_layers or cfg.remat != "none"))
        g = layout.group(gathered)
        times = 2 if again else 1
        out.append(Traffic("all-gather", gathered, times * all_gather(tensor.local_bytes * g, g),
                           times * _layers(tensor), f"{'.'.join(tensor.path)} gathered for use"))
    return out


def lookups_of_tables(layout: Layout) -> list[Traffic]:
    out = []
    for tensor in layout.tensors:
        embed = tensor.dim("embed")
        split_rows = _axes(tensor, 0, (*layout.batch_axes, "context"))  # context: gathered (mechanism 7)
        for count in lookups(layout, tensor):
            looked_up = layout.local_tokens(count) * tensor.shape[embed] * tensor.itemsize
            name = ".".join(tensor.path)
            if _exchanged(layout, tensor):
                g = layout.group(_axes(tensor, embed))
                out.append(Traffic("all-to-all", _axes(tensor, embed), 2 * all_gather(looked_up, g), 2,
                                   f"{name}: looked-up rows exchanged ({count} tokens, fwd+bwd)"))
            if split_rows:
                out.append(Traffic("all-reduce", split_rows, all_reduce(looked_up, layout.group(split_rows)), 1,
                                   f"{name}: partial lookups summed ({count} tokens)"))
    return out


def _activation_width(layout: Layout, tensor: Tensor, dim: int) -> float:
    """Features per device of the activation matching a weight dimension: activations are split over
    the batch axes by rows, so only the weight's other (tensor) axes split their features."""
    return tensor.shape[dim] / layout.group(_axes(tensor, dim, layout.batch_axes))


def _input_key(tensor: Tensor) -> tuple:
    """Matmuls reading the same activation (q, k, v of self-attention; wi_0, wi_1): their input
    gradients are added, so a reassociating compiler all-reduces the sum once."""
    reads_context = "cross_attention" in tensor.path and tensor.path[-2] in ("key", "value")
    return (*tensor.path[:-2], "context" if reads_context else "x")


def tensor_parallel(layout: Layout) -> list[Traffic]:
    cfg = layout.cfg.model
    compiler = COMPILERS[layout.platform]
    compute = FLOAT32 if compiler.float32_dots else np.dtype(cfg.dtype).itemsize
    reassociate = compiler.reassociate
    out, seen_inputs = [], set()
    for tensor in layout.tensors:
        matmul = _matmul(layout, tensor)
        if matmul is None:
            continue
        contracting, output, count = matmul
        tokens, layers = layout.local_tokens(count), _layers(tensor)
        if tensor.in_layer_stack:  # the stage's layers run on every tick, a microbatch each
            tokens *= layout.ticks_per_microbatch
        split_in = _axes(tensor, contracting, layout.batch_axes)
        split_out = _axes(tensor, output, layout.batch_axes)
        name = ".".join(tensor.path)
        if split_in:
            width = _activation_width(layout, tensor, output)
            again = cfg.remat == "full" and tensor.in_layer_stack and "feed_forward" not in tensor.path
            times = layers * (2 if again else 1)
            out += sequence_parallel(layout, tensor, Traffic(
                "all-reduce", split_in, times * all_reduce(tokens * width * compute, layout.group(split_in)),
                times, f"{name}: row-parallel output summed"))
        elif split_out:
            key = _input_key(tensor)
            if reassociate and key in seen_inputs:
                continue
            seen_inputs.add(key)
            width = _activation_width(layout, tensor, contracting)
            out += sequence_parallel(layout, tensor, Traffic(
                "all-reduce", split_out, layers * all_reduce(tokens * width * compute, layout.group(split_out)),
                layers, f"{name}: column-parallel input gradient summed"))
    return out


def sequence_parallel(layout: Layout, tensor: Tensor, summed: Traffic) -> list[Traffic]:
    """Mechanism 6: an in-stack all-reduce of tensor parallelism under sequence parallelism."""
    if not (layout.cfg.parallel.sequence_parallel and tensor.in_layer_stack):
        return [summed]
    gathered = Traffic("all-gather", summed.axes, summed.bytes / 2, summed.count,
                       f"{summed.why.partition(':')[0]}: sequence-split stream gathered (SP)")
    if COMPILERS[layout.platform].reduce_scatter:
        return [dataclasses.replace(summed, kind="reduce-scatter", bytes=summed.bytes / 2), gathered]
    return [summed, gathered]


def vocab_parallel_loss(layout: Layout) -> list[Traffic]:
    projection = next((t for t in layout.tensors if _matmul(layout, t) and (
        _tied_output(layout, t) or t.path[0] == "lm_head")), None)
    if projection is None:
        return []
    split = _axes(projection, projection.dim("vocab"), layout.batch_axes)
    if not split:
        return []
    tokens, g = layout.local_tokens(output_tokens(layout)), layout.group(split)
    return [Traffic("all-reduce", split, 4 * all_reduce(tokens * FLOAT32, g), 4,
                    "softmax over split vocabulary: max, sum, target logit; accuracy: logits as high as the target")]


def _uses(layout: Layout, tensor: Tensor) -> int:
    """Separately reduced partial gradients of a parameter on a non-reassociating compiler."""
    if not _is_table(tensor):
        return 1
    lookup_uses = 0 if _exchanged(layout, tensor) else len(lookups(layout, tensor))
    return lookup_uses + (1 if _tied_output(layout, tensor) else 0)


def gradient_reductions(layout: Layout) -> list[Traffic]:
    if not layout.batch_axes:
        return []
    compiler = COMPILERS[layout.platform]
    out = []
    for tensor in layout.tensors:
        gathered = tuple(a for a in layout.batch_axes if a in tensor.mesh_axes)
        rest = tuple(a for a in layout.batch_axes if a not in gathered)
        g, r = layout.group(gathered), layout.group(rest)
        name = ".".join(tensor.path)
        if compiler.reduce_scatter:
            if g > 1:
                out.append(Traffic("reduce-scatter", gathered, tensor.local_bytes * (g - 1), 1, f"{name} gradient"))
            if r > 1:
                out.append(Traffic("all-reduce", rest, all_reduce(tensor.local_bytes, r), 1, f"{name} gradient"))
            continue
        uses = _uses(layout, tensor)
        if uses and g > 1:
            out.append(Traffic("all-reduce", gathered, uses * all_reduce(tensor.local_bytes * g, g), uses,
                               f"{name} gradient, whole"))
        if uses and r > 1:
            out.append(Traffic("all-reduce", rest, uses * all_reduce(tensor.local_bytes, r), uses,
                               f"{name} gradient, own shard"))
    return out


def _stacks(layout: Layout) -> list[tuple[str, int]]:
    """(token count, layers) of each layer stack: the decoder's, or the encoder's and the decoder's."""
    cfg = layout.cfg.model
    stacks = [("source", cfg.num_layers)]
    if cfg.family == "encoder_decoder":
        stacks.append(("target", cfg.resolved_decoder_layers))
    return stacks


def _chunk_moves(c: int) -> int:
    """Of the two half-block permutations that reorder a causal stream (`parallel.context`: device
    i's chunks 2i, 2i+1 → i, 2c−1−i), those that move anything (c = 2 keeps the even chunks home)."""
    def home(chunk: int) -> int:
        return chunk if chunk < c else 2 * c - 1 - chunk
    return sum(any(home(k) != k // 2 for k in range(parity, 2 * c, 2)) for parity in (0, 1))


def context_parallel(layout: Layout) -> list[Traffic]:
    """Mechanism 7: attention across a sequence split over context, and what the split costs elsewhere."""
    c = layout.sequence_shards
    if c == 1:
        return []
    cfg, compiler = layout.cfg.model, COMPILERS[layout.platform]
    x = np.dtype(cfg.dtype).itemsize
    width = layout.features("heads", cfg.num_heads * cfg.resolved_head_dim)
    out = []
    for count, layers in _stacks(layout):
        block = layout.local_tokens(count) * width * x  # one device's K (or V)
        if layout.cfg.parallel.context_attention == "ring":
            steps = 2 * layers * (c - 1)
            out.append(Traffic("collective-permute", ("context",), 2 * steps * block, 2 * steps,
                               f"{count} K, V round the ring (fwd) and their gradients (bwd)"))
        else:
            out.append(Traffic("all-gather", ("context",), 2 * layers * all_gather(block * c, c), 2 * layers,
                               f"{count} K, V gathered"))
            out.append(Traffic("reduce-scatter", ("context",), 2 * layers * block * (c - 1), 2 * layers,
                               f"{count} K, V gradients reduce-scattered"))
        if cfg.family == "decoder":
            half = layout.local_tokens(count) / 2 * cfg.d_model * x
            moves = 4 * _chunk_moves(c)
            out.append(Traffic("collective-permute", ("context",), moves * half, moves,
                               f"{count} stream into load-balanced chunks and back (fwd+bwd)"))
    for tensor in layout.tensors:
        name, split = ".".join(tensor.path), "context" in tensor.mesh_axes
        whole = tensor.local_bytes * (c if split else 1)
        if split:
            out.append(Traffic("all-gather", ("context",), all_gather(whole, c), 1, f"{name} gathered for lookup"))
        if compiler.reduce_scatter and split:
            out.append(Traffic("reduce-scatter", ("context",), tensor.local_bytes * (c - 1), 1,
                               f"{name} gradient over context"))
        else:
            uses = 1 if compiler.reassociate else _uses(layout, tensor)
            out.append(Traffic("all-reduce", ("context",), uses * all_reduce(whole, c), uses,
                               f"{name} gradient over context"))
    return out


def pipeline_stages(layout: Layout) -> list[Traffic]:
    """Mechanism 8: activations handed stage to stage in GPipe's m + p − 1 ticks."""
    p = layout.stages
    if p == 1:
        return []
    m, x = layout.cfg.parallel.pipeline_microbatches, np.dtype(layout.cfg.model.dtype).itemsize
    ticks = m + p - 1
    out = []
    for count, _ in _stacks(layout):
        microbatch = layout.local_tokens(count) / m * layout.cfg.model.d_model * x
        out += [
            Traffic("collective-permute", ("stage",), 2 * ticks * microbatch, 2 * ticks,
                    f"{count} activations to the next stage (fwd) and gradients back (bwd), per tick"),
            Traffic("all-reduce", ("stage",), ticks * all_reduce(microbatch, p), ticks,
                    f"{count} stage-0 input gradient summed over stage, per tick"),
            Traffic("all-reduce", ("stage",), all_reduce(m * microbatch, p), 1,
                    f"{count} last stage's outputs broadcast"),
        ]
    stack = dataclasses.replace(layout, tensors=tuple(t for t in layout.tensors if t.in_layer_stack))
    for item in gradient_reductions(stack):
        out.append(dataclasses.replace(item, bytes=item.bytes * (ticks - 1), count=item.count * (ticks - 1),
                                       why=f"{item.why}, again in each of {ticks - 1} further ticks"))
    return out


MECHANISMS: tuple[Callable[[Layout], list[Traffic]], ...] = (
    weight_gathers, lookups_of_tables, tensor_parallel, vocab_parallel_loss, gradient_reductions,
    context_parallel, pipeline_stages,
)


def predict_traffic(layout: Layout) -> list[Traffic]:
    """Every predicted collective of one step (module docstring), largest first."""
    items = [dataclasses.replace(item, mechanism=mechanism.__name__)
             for mechanism in MECHANISMS for item in mechanism(layout) if item.bytes > 0]
    return sorted(items, key=lambda item: -item.bytes)


def by_kind(items: list[Traffic]) -> dict[str, float]:
    """Predicted bytes per device per step by collective kind."""
    totals = dict.fromkeys(KINDS, 0.0)
    for item in items:
        totals[item.kind] += item.bytes
    return totals
