"""A stack of transformer blocks: unrolled, or stacked and applied with `nnx.scan`.

Scanning keeps compile time flat in depth: every parameter gains a leading [layers] axis
(logical name 'layers') and XLA compiles one block. Rematerialisation (`remat`) trades compute
for memory by recomputing each block's activations in the backward pass. Installed execution
hooks (`jaxlm.nn.hooks`) may reorder the sequence around the layers (context parallelism) and
run the scanned layers as a pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlm.config import ModelConfig
from jaxlm.errors import JaxlmError
from jaxlm.nn.attention import KVCache
from jaxlm.nn.block import RESIDUAL_AXES, TransformerBlock
from jaxlm.nn.hooks import NO_HOOKS, current_hooks
from jaxlm.nn.init import relative_bias_std
from jaxlm.nn.norms import norm_from_config
from jaxlm.nn.params import canonical_dtype
from jaxlm.nn.positions import RelativePositionBias
from jaxlm.parallel.constraints import constrain

REMAT_POLICIES = {
    "full": None,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}

LayerCache = KVCache | list[KVCache] | None


class LayerStack(nnx.Module):
    """x [b, l, d_model] → num_layers × TransformerBlock → optional final norm → [b, l, d_model].

    With relative positions (T5) the stack owns one bias table shared by all its layers,
    bidirectional in an encoder and causal in a decoder.
    """

    def __init__(self, cfg: ModelConfig, num_layers: int, *, causal: bool, cross: bool, rngs: nnx.Rngs):
        self.num_layers = num_layers
        self.causal = causal
        self.scan = cfg.scan_layers
        self.remat = cfg.remat
        self.num_heads = cfg.num_heads
        self.head_dim = cfg.resolved_head_dim
        self.cache_dtype = canonical_dtype(cfg.dtype)
        if cfg.scan_layers:
            @nnx.split_rngs(splits=num_layers)
            @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
            def create(layer_rngs: nnx.Rngs) -> TransformerBlock:
                return TransformerBlock(cfg, causal=causal, cross=cross, rngs=layer_rngs)

            self.layers = create(rngs)
        else:
            self.layers = nnx.List(
                [TransformerBlock(cfg, causal=causal, cross=cross, rngs=rngs) for _ in range(num_layers)]
            )
        self.relative_bias = (
            RelativePositionBias(
                cfg.relative_buckets, cfg.relative_max_distance, cfg.num_heads, bidirectional=not causal,
                rngs=rngs, init_std=relative_bias_std(cfg), param_dtype=canonical_dtype(cfg.param_dtype),
            )
            if cfg.position == "relative" else None
        )
        self.final_norm = norm_from_config(cfg, rngs) if cfg.final_norm else None

    def init_cache(self, batch: int, max_length: int) -> LayerCache:
        """An empty KV cache for every layer (stacked along [layers] when scanned)."""
        one = KVCache.zeros(batch, max_length, self.num_heads, self.head_dim, self.cache_dtype)
        if self.scan:
            return jax.tree.map(lambda a: jnp.broadcast_to(a, (self.num_layers, *a.shape)), one)
        return [one for _ in range(self.num_layers)]

    def _bias(self, length: int, cache: LayerCache) -> jax.Array | None:
        if self.relative_bias is None:
            return None
        offset = cache_index(cache)
        key_length = length if cache is None else (cache if self.scan else cache[0]).key.shape[-3]
        return self.relative_bias(offset + jnp.arange(length), jnp.arange(key_length))

    def __call__(
        self,
        x: jax.Array,
        segments: jax.Array,
        *,
        positions: jax.Array | None = None,
        context: jax.Array | None = None,
        context_segments: jax.Array | None = None,
        cache: LayerCache = None,
        deterministic: bool = True,
        packed: bool = True,
    ) -> tuple[jax.Array, LayerCache]:
        hooks = current_hooks() if cache is None else NO_HOOKS
        if hooks.context is not None:  # into the order the context devices hold the sequence in
            x, segments, positions = (
                None if a is None else hooks.context.enter(a, causal=self.causal) for a in (x, segments, positions)
            )
        bias = self._bias(x.shape[1], cache)
        rows, common = (segments, positions, context, context_segments), (bias,)

        def apply_block(block: TransformerBlock, x: jax.Array, layer_cache: KVCache | None, rows: tuple,
                        common: tuple):
            segments, positions, context, context_segments = rows
            x, layer_cache = block(
                constrain(x, RESIDUAL_AXES), segments, positions=positions, bias=common[0], context=context,
                context_segments=context_segments, cache=layer_cache, deterministic=deterministic, packed=packed,
            )
            return constrain(x, RESIDUAL_AXES), layer_cache

        if self.remat != "none":
            apply_block = nnx.remat(apply_block, policy=REMAT_POLICIES[self.remat])

        if self.scan:
            def body(x: jax.Array, block: TransformerBlock, layer_cache: KVCache | None, rows: tuple, common: tuple):
                return apply_block(block, x, layer_cache, rows, common)

            scan = nnx.scan(body, in_axes=(nnx.Carry, 0, 0, None, None), out_axes=(nnx.Carry, 0))
            if hooks.pipeline is not None:
                def run(layers: nnx.Module, x: jax.Array, rows: tuple, common: tuple) -> jax.Array:
                    return scan(x, layers, None, rows, common)[0]

                x = hooks.pipeline(run, self.layers, x, rows, common)
            else:
                x, cache = scan(x, self.layers, cache, rows, common)
        else:
            if hooks.pipeline is not None:
                raise JaxlmError("pipeline stages split a scanned layer stack; set model.scan_layers=true")
            new_cache = []
            for i, block in enumerate(self.layers):
                x, layer_cache = apply_block(block, x, None if cache is None else cache[i], rows, common)
                new_cache.append(layer_cache)
            cache = None if cache is None else new_cache
        if hooks.context is not None:
            x = hooks.context.leave(x, causal=self.causal)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, cache


def cache_index(cache: LayerCache) -> jax.Array | int:
    """The slot the next token goes to: 0 without a cache."""
    if cache is None:
        return 0
    if isinstance(cache, KVCache):
        return cache.index[0] if cache.index.ndim else cache.index
    return cache[0].index


def unstack_layers(tree: Mapping) -> dict:
    """Scanned layout → unrolled layout of a nested dict of arrays (`nnx.State.to_pure_dict()`).

    Under every 'layers' key, each array's leading [layers] axis is split off, so
    {'layers': {'wo': {'kernel': [n, f, d]}}} becomes {'layers': {0: {'wo': {'kernel': [f, d]}}, 1: …}},
    the tree an unrolled `LayerStack` (an `nnx.List` of blocks) has. Trees already unrolled pass
    through. Load the result with `nnx.update(model, nnx.State(tree))`.
    """
    def convert(node: Any, key: Any) -> Any:
        if not isinstance(node, Mapping):
            return node
        if key == "layers" and not _is_unrolled(node):
            leaves = jax.tree.leaves(node)
            num_layers = leaves[0].shape[0] if leaves else 0
            return {i: jax.tree.map(lambda a, i=i: a[i], dict(node)) for i in range(num_layers)}
        return {k: convert(v, k) for k, v in node.items()}

    return convert(tree, None)


def stack_layers(tree: Mapping) -> dict:
    """Unrolled layout → scanned layout: the inverse of `unstack_layers`.

    Under every 'layers' key holding {0: block, 1: block, …}, the blocks' arrays are stacked
    along a new leading [layers] axis, giving the tree a scanned `LayerStack` has.
    """
    def convert(node: Any, key: Any) -> Any:
        if not isinstance(node, Mapping):
            return node
        if key == "layers" and _is_unrolled(node) and node:
            blocks = [dict(node[i]) for i in range(len(node))]
            return jax.tree.map(lambda *arrays: jnp.stack(arrays), *blocks)
        return {k: convert(v, k) for k, v in node.items()}

    return convert(tree, None)


def _is_unrolled(layers: Mapping) -> bool:
    return all(isinstance(k, int) for k in layers)
