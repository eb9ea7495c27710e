"""Parameters, optimizer state, batches and activations land where the rule table says."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P
from parallel_harness import tiny_config

from jaxlm import parallel
from jaxlm.models import build_model

# Per-device shard shapes of the tiny decoder (vocab 256, d_model 64, 4 heads × 16, d_ff 128,
# 32 positions) on each strategy's 8-device mesh, written out from the rule tables:
#   dp      data=8                 nothing split
#   fsdp    fsdp=8                 embed/8
#   tp      data=2, tensor=4       mlp/4, heads/4, vocab/4
#   dp_tp   data=4, tensor=2       mlp/2, heads/2, vocab/2
#   fsdp_tp data=2, fsdp=2, tensor=2   embed/2, mlp/2, heads/2, vocab/2
LAYER = ("decoder", "layers", 0)
EXPECTED_SHARDS = {
    "dp": {"wi_0": (64, 128), "wi_0_bias": (128,), "wo": (128, 64), "query": (64, 64), "output": (64, 64),
           "token": (256, 64), "positions": (32, 64), "norm": (64,)},
    "fsdp": {"wi_0": (8, 128), "wi_0_bias": (128,), "wo": (128, 8), "query": (8, 64), "output": (64, 8),
             "token": (256, 8), "positions": (32, 8), "norm": (8,)},
    "tp": {"wi_0": (64, 32), "wi_0_bias": (32,), "wo": (32, 64), "query": (64, 16), "output": (16, 64),
           "token": (64, 64), "positions": (32, 64), "norm": (64,)},
    "dp_tp": {"wi_0": (64, 64), "wi_0_bias": (64,), "wo": (64, 64), "query": (64, 32), "output": (32, 64),
              "token": (128, 64), "positions": (32, 64), "norm": (64,)},
    "fsdp_tp": {"wi_0": (32, 64), "wi_0_bias": (64,), "wo": (64, 32), "query": (32, 32), "output": (32, 32),
                "token": (128, 32), "positions": (32, 32), "norm": (32,)},
}
PATHS = {
    "wi_0": (*LAYER, "feed_forward", "wi_0", "kernel"), "wi_0_bias": (*LAYER, "feed_forward", "wi_0", "bias"),
    "wo": (*LAYER, "feed_forward", "wo", "kernel"), "query": (*LAYER, "self_attention", "query", "kernel"),
    "output": (*LAYER, "self_attention", "output", "kernel"), "token": ("embedder", "token", "embedding"),
    "positions": ("embedder", "positions", "embedding"), "norm": ("decoder", "final_norm", "scale"),
}


def _leaf(tree, path):
    for key in path:
        tree = tree[key]
    return tree[...] if isinstance(tree, nnx.Variable) else tree


@pytest.mark.parametrize("strategy", list(EXPECTED_SHARDS))
def test_parameter_and_adam_moment_shards_follow_the_rule_table(train_run, strategy):
    run, _ = train_run("decoder", strategy)
    params = run.state["params"]
    mu = run.state["opt_state"][1][0].mu
    for name, shape in EXPECTED_SHARDS[strategy].items():
        for tree in (params, mu):
            array = _leaf(tree, PATHS[name])
            shard_shapes = {shard.data.shape for shard in array.addressable_shards}
            assert shard_shapes == {shape}, (strategy, name)


def test_logical_to_spec_drops_used_trivial_and_non_dividing_axes():
    rules = parallel.rules_for("fsdp_tp")
    sizes = {"data": 2, "fsdp": 2, "tensor": 2}
    # activations: batch takes (data, fsdp) so embed cannot take fsdp again
    assert parallel.logical_to_spec(("batch", "length", "embed"), (8, 16, 64), rules, sizes) == P(("data", "fsdp"))
    # a 3-way classifier cannot split its 'vocab' dimension over tensor=2
    assert parallel.logical_to_spec(("embed", "vocab"), (64, 3), rules, sizes) == P("fsdp")
    # a batch of 2 rows keeps data, drops fsdp (2 is not divisible by 4)
    assert parallel.logical_to_spec(("batch",), (2,), rules, sizes) == P("data")
    # size-1 axes are left out of the spec
    assert parallel.logical_to_spec(("embed", "mlp"), (64, 128), rules, {"data": 8, "fsdp": 1, "tensor": 1}) == P()


def test_every_strategy_has_a_rule_for_every_logical_axis():
    from jaxlm.nn.params import LOGICAL_AXES

    for strategy in parallel.STRATEGIES:
        assert {name for name, _ in parallel.rules_for(strategy)} == {*LOGICAL_AXES, "residual_length"}


def test_sharded_creation_equals_the_unsharded_model():
    cfg = tiny_config("encoder_decoder", "fsdp_tp")
    mesh = parallel.make_mesh(cfg.parallel)
    sharded = parallel.create_sharded_model(cfg.model, mesh, parallel.rules_for("fsdp_tp"), seed=3)
    plain = build_model(cfg.model, seed=3)
    a, b = nnx.state(sharded, nnx.Param), nnx.state(plain, nnx.Param)
    # the same random draws; the jitted initialiser may round a last bit differently from eager
    jax.tree.map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7), a, b)
    kernel = sharded.encoder.layers[0].feed_forward.wi_0.kernel[...]
    assert kernel.sharding.spec == P("fsdp", "tensor")


def _compiled_param_bytes(strategy: str) -> tuple[int, int]:
    """(per-device output bytes, per-device temp bytes) of the compiled sharded initialiser."""
    cfg = tiny_config("decoder", strategy)
    mesh = parallel.make_mesh(cfg.parallel)
    _, abstract = nnx.split(nnx.eval_shape(lambda: build_model(cfg.model)))
    shardings = parallel.state_shardings(abstract, mesh, parallel.rules_for(strategy))
    init = jax.jit(lambda: nnx.split(build_model(cfg.model))[1], out_shardings=shardings)
    memory = init.lower().compile().memory_analysis()
    return memory.output_size_in_bytes, memory.temp_size_in_bytes


def test_fsdp_per_device_parameter_memory_is_an_eighth_of_dp():
    dp_bytes, _ = _compiled_param_bytes("dp")
    fsdp_bytes, fsdp_temp = _compiled_param_bytes("fsdp")
    assert 0.12 < fsdp_bytes / dp_bytes < 0.14  # 1/8 plus the few replicated 'mlp'/'heads' biases
    # sharded creation never holds the whole model on one device, not even as a temporary
    assert fsdp_bytes + fsdp_temp < dp_bytes


def test_batch_rows_are_split_over_data_and_fsdp():
    cfg = tiny_config("decoder", "fsdp_tp")
    mesh = parallel.make_mesh(cfg.parallel)
    batch = parallel.shard_batch({"inputs": np.arange(8 * 4).reshape(8, 4), "labels": np.arange(8)}, mesh)
    assert batch["inputs"].shape == (8, 4)
    assert {s.data.shape for s in batch["inputs"].addressable_shards} == {(2, 4)}
    assert {s.data.shape for s in batch["labels"].addressable_shards} == {(2,)}
    np.testing.assert_array_equal(np.asarray(batch["inputs"]), np.arange(32).reshape(8, 4))


def test_constrain_is_identity_without_a_mesh():
    x = jnp.ones((8, 4, 64))
    assert parallel.constrain(x, ("batch", "length", "embed")) is x


def test_constrain_pins_activations_inside_use_mesh():
    cfg = tiny_config("decoder", "fsdp_tp")
    mesh = parallel.make_mesh(cfg.parallel)
    rules = parallel.rules_for("fsdp_tp")
    with parallel.use_mesh(mesh, rules):
        y = jax.jit(lambda x: parallel.constrain(x * 2, ("batch", "length", "mlp")))(jnp.ones((8, 4, 64)))
    assert y.sharding.spec == P(("data", "fsdp"), None, "tensor")
    assert {s.data.shape for s in y.addressable_shards} == {(2, 4, 32)}


def test_scanned_rematerialised_stack_shards_its_layers_and_matches_one_device():
    cfg = tiny_config("decoder", "fsdp_tp", ["model.num_layers=2", "model.scan_layers=true", "model.remat=full"])
    mesh, rules = parallel.make_mesh(cfg.parallel), parallel.rules_for("fsdp_tp")
    model = parallel.create_sharded_model(cfg.model, mesh, rules, seed=0)
    kernel = model.decoder.layers.feed_forward.wi_0.kernel[...]
    assert kernel.sharding.spec == P(None, "fsdp", "tensor")  # the stacked 'layers' axis stays whole
    assert {s.data.shape for s in kernel.addressable_shards} == {(2, 32, 64)}
    ids = np.random.default_rng(0).integers(1, 256, (8, 16)).astype(np.int32)
    with parallel.use_mesh(mesh, rules):
        logits = nnx.jit(lambda m, x: m(x)["logits"])(model, parallel.shard_batch({"x": ids}, mesh)["x"])
    assert logits.sharding.spec[0] == ("data", "fsdp")
    expected = build_model(cfg.model, seed=0)(ids)["logits"]
    np.testing.assert_allclose(np.asarray(logits), np.asarray(expected), rtol=1e-5, atol=1e-5)
