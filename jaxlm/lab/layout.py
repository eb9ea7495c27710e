"""What the rule table does to one model on one mesh: every parameter's shards and the tokens that
flow through it. The inputs of every prediction (`memory`, `traffic`, `roofline`).

A parameter's mesh axes per dimension come from `jaxlm.parallel.logical_to_spec`, the same
function that shards the real train state, so the prediction reads the rule table and nothing
else. The batch axes are those the 'batch' rule assigns to the rows of the batch.

Token counts are global per step: `source` = rows × seq_length (the encoder's, or the decoder's
in a decoder-only model), `target` = rows × decoder length (encoder–decoder), `predicted` = rows
× max_predictions (BERT's masked positions), `rows` (pooled heads).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
from flax import nnx

from jaxlm import parallel
from jaxlm.config import Config
from jaxlm.lab.batch import batch_shapes

MeshAxes = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One parameter: path in the model tree, global shape, logical names, mesh axes per dimension."""

    path: tuple[str, ...]
    shape: tuple[int, ...]
    names: tuple[str, ...]
    itemsize: int
    axes: tuple[MeshAxes, ...]
    sizes: Mapping[str, int]

    def shards(self, dim: int | None = None) -> int:
        """How many pieces the whole tensor (or dimension `dim`) is cut into."""
        dims = range(len(self.shape)) if dim is None else (dim,)
        return math.prod(self.sizes[a] for d in dims for a in self.axes[d])

    @property
    def local_bytes(self) -> float:
        """Bytes of this tensor on one device."""
        return math.prod(self.shape) * self.itemsize / self.shards()

    @property
    def mesh_axes(self) -> frozenset[str]:
        return frozenset(a for dim_axes in self.axes for a in dim_axes)

    @property
    def in_layer_stack(self) -> bool:
        return "layers" in self.path

    def dim(self, logical: str) -> int | None:
        """Index of the (last) dimension named `logical`, None if it has none."""
        matches = [i for i, name in enumerate(self.names) if name == logical]
        return matches[-1] if matches else None


@dataclasses.dataclass(frozen=True)
class Layout:
    """A model under a strategy on a mesh: its tensors, the batch axes and the token counts."""

    cfg: Config
    sizes: Mapping[str, int]
    tensors: tuple[Tensor, ...]
    batch_axes: MeshAxes
    tokens: Mapping[str, int]
    batch_bytes: float
    platform: str

    @property
    def devices(self) -> int:
        return math.prod(self.sizes.values())

    @property
    def batch_shards(self) -> int:
        return math.prod(self.sizes[a] for a in self.batch_axes)

    def local_tokens(self, count: str) -> float:
        """Tokens of kind `count` one device processes (its rows of the batch)."""
        return self.tokens[count] / self.batch_shards

    def group(self, axes: frozenset[str] | MeshAxes) -> int:
        """Devices in a collective over mesh `axes`."""
        return math.prod(self.sizes[a] for a in axes)

    def features(self, logical: str, size: int) -> float:
        """Features per device of an activation dimension named `logical` of `size`: divided by the
        non-batch mesh axes the rule table gives it on the parameters (rows carry the batch axes)."""
        for tensor in self.tensors:
            dim = tensor.dim(logical)
            if dim is not None:
                return size / self.group([a for a in tensor.axes[dim] if a not in self.batch_axes])
        return float(size)

    def gathered_bytes(self, tensor: Tensor) -> float:
        """Bytes of a parameter once gathered over the batch axes (what a device computes with)."""
        return tensor.local_bytes * self.group([a for a in tensor.mesh_axes if a in self.batch_axes])


def _path(path: tuple) -> tuple[str, ...]:
    return tuple(str(getattr(key, "key", getattr(key, "name", key))) for key in path)


def tensors_of(abstract_params: nnx.State, rules: parallel.Rules, sizes: Mapping[str, int]) -> tuple[Tensor, ...]:
    """Every parameter of an abstract model (`nnx.eval_shape`) with its shards under `rules`."""
    tensors = []
    for path, param in nnx.to_flat_state(abstract_params):
        names = tuple(param.get_metadata().get("out_sharding") or (None,) * len(param.shape))
        spec = parallel.logical_to_spec(names, param.shape, rules, sizes)
        axes = []
        for i in range(len(param.shape)):
            entry = spec[i] if i < len(spec) else None
            axes.append(() if entry is None else (entry,) if isinstance(entry, str) else tuple(entry))
        tensors.append(Tensor(_path(path), tuple(param.shape), names, np.dtype(param.dtype).itemsize,
                              tuple(axes), sizes))
    return tuple(tensors)


def token_counts(cfg: Config) -> dict[str, int]:
    """Global tokens per step by kind (module docstring)."""
    shapes = batch_shapes(cfg)
    rows, source = shapes["inputs"][0]
    counts = {"rows": rows, "source": rows * source, "target": 0, "predicted": 0}
    if "decoder_inputs" in shapes:
        counts["target"] = math.prod(shapes["decoder_inputs"][0])
    if "mlm_positions" in shapes:
        counts["predicted"] = math.prod(shapes["mlm_positions"][0])
    return counts


def make_layout(
    cfg: Config, abstract_params: nnx.State, rules: parallel.Rules, sizes: Mapping[str, int], platform: str
) -> Layout:
    """The layout of `cfg`'s model (its abstract parameters) under `rules` on a mesh of `sizes`,
    compiled for `platform` ('cpu', 'gpu' or 'tpu')."""
    shapes = batch_shapes(cfg)
    rows = cfg.data.batch_size
    batch_spec = parallel.logical_to_spec(("batch",), (rows,), rules, sizes)
    entry = batch_spec[0] if len(batch_spec) else None
    batch_axes = () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)
    shards = math.prod(sizes[a] for a in batch_axes)
    batch_bytes = sum(math.prod(shape) * dtype.itemsize for shape, dtype in shapes.values()) / shards
    return Layout(cfg, dict(sizes), tensors_of(abstract_params, rules, sizes), batch_axes, token_counts(cfg),
                  batch_bytes, platform)


def tokens_through(layout: Layout, tensor: Tensor) -> str:
    """Which token count flows through a parameter's matmul (see the module docstring)."""
    family = layout.cfg.model.family
    top = tensor.path[0]
    if top == "mlm_head":
        return "predicted"
    if top in ("pooler", "nsp_head", "classifier"):
        return "rows"
    if family != "encoder_decoder" or top == "encoder":
        return "source"
    if "cross_attention" in tensor.path and tensor.path[-2] in ("key", "value"):
        return "source"
    return "target"


def lookups(layout: Layout, tensor: Tensor) -> list[str]:
    """The token counts a table is looked up with: the shared embedder embeds the encoder's and the
    decoder's inputs of an encoder–decoder model; nothing else is a lookup table."""
    if tensor.path[0] != "embedder":
        return []
    if tensor.path[1] == "token_types":
        return ["source"]
    return ["source", "target"] if layout.cfg.model.family == "encoder_decoder" else ["source"]


def output_tokens(layout: Layout) -> str:
    """The positions the (tied or untied) output projection runs on."""
    cfg = layout.cfg.model
    if cfg.family == "encoder":
        return "predicted" if cfg.mlm_head else ""
    return "target" if cfg.family == "encoder_decoder" else "source"
