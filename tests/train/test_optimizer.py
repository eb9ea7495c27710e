"""AdamW recipe: weight-decay mask, schedule shape; T5's Adafactor and inverse-square-root schedule."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxlm.config import ConfigError, load_config
from jaxlm.models import build_model
from jaxlm.train.optimizer import learning_rate_schedule, make_optimizer, weight_decay_mask


@pytest.mark.parametrize("scan", [False, True])
def test_weight_decay_mask_excludes_norms_and_biases(scan):
    cfg = load_config("bert_tiny", ["model.num_layers=2", f"model.scan_layers={str(scan).lower()}"])
    params = nnx.state(build_model(cfg.model), nnx.Param)
    mask = {".".join(map(str, path)): bool(v.get_value()) for path, v in nnx.to_flat_state(weight_decay_mask(params))}
    decayed = {path for path, on in mask.items() if on}
    assert all(path.endswith(("kernel", "embedding")) for path in decayed)
    assert not any("norm" in path or path.endswith("bias") for path in decayed)
    assert "embedder.token.embedding" in decayed
    assert not mask["mlm_head.output_bias"]
    assert any(path.endswith("self_attention.query.kernel") for path in decayed)


def test_schedule_warms_up_linearly_then_decays_to_end_ratio():
    cfg = load_config("gpt2_tiny", ["train.steps=100", "train.warmup_steps=10", "train.learning_rate=1e-3",
                                    "train.end_lr_ratio=0.1", "train.schedule=cosine"]).train
    lr = learning_rate_schedule(cfg)
    assert float(lr(0)) == 0.0
    np.testing.assert_allclose(float(lr(5)), 5e-4, rtol=1e-5)
    np.testing.assert_allclose(float(lr(10)), 1e-3, rtol=1e-5)
    np.testing.assert_allclose(float(lr(100)), 1e-4, rtol=1e-4)
    assert float(lr(50)) < 1e-3


@pytest.mark.parametrize("override, key", [
    ("train.microbatches=0", "train.microbatches"),
    ("train.clip_norm=-1", "train.clip_norm"),
    ("train.steps=ten", "train.steps"),
    ("train.nan_policy=ignore", "train.nan_policy"),
    ("train.schedule=cosine_decay", "train.schedule"),
    ("train.learning_rate=-1", "train.learning_rate"),
    ("train.lr=0.1", "train.lr"),
    ("checkpoint.keep=0", "checkpoint.keep"),
])
def test_invalid_train_configs_are_rejected_with_one_line(override, key):
    with pytest.raises(ConfigError) as error:
        load_config("gpt2_tiny", [override])
    message = str(error.value)
    assert key in message and "\n" not in message


def test_rsqrt_schedule_holds_then_decays_as_t5():
    cfg = load_config("t5_tiny", ["train.schedule=rsqrt", "train.learning_rate=0.01", "train.warmup_steps=10000"])
    lr = learning_rate_schedule(cfg.train)
    for step in (0, 5000, 10000):
        np.testing.assert_allclose(float(lr(step)), 0.01, rtol=1e-6)
    np.testing.assert_allclose(float(lr(40000)), 1 / 40000**0.5, rtol=1e-6)


def test_adafactor_updates_equal_optax_on_plain_arrays():
    cfg = load_config("t5_tiny", ["model.d_model=128", "model.d_ff=256", "model.num_layers=1", "model.vocab_size=300",
                                  "train.optimizer=adafactor", "train.weight_decay=0", "train.clip_norm=0",
                                  "train.schedule=rsqrt", "train.learning_rate=0.01", "train.b1=0"])
    params = nnx.state(build_model(cfg.model), nnx.Param)
    grads = jax.tree.map(lambda v: v.replace(jnp.cos(v.get_value() * 7.0)), params,
                         is_leaf=lambda x: isinstance(x, nnx.Variable))
    tx = make_optimizer(cfg.train)
    updates, _ = tx.update(grads, tx.init(params), params)
    plain = nnx.to_pure_dict(params)
    reference = optax.adafactor(0.01)
    expected, _ = reference.update(nnx.to_pure_dict(grads), reference.init(plain), plain)
    for (path, got), want in zip(nnx.to_flat_state(updates), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(np.asarray(got.get_value()), np.asarray(want), rtol=1e-6, err_msg=str(path))
    factored = [leaf for leaf in jax.tree.leaves(tx.init(params)) if getattr(leaf, "ndim", 0) == 1]
    assert factored and not any(isinstance(leaf, nnx.Variable) for leaf in factored)


def test_adafactor_with_weight_decay_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"train\.weight_decay: adafactor applies no weight decay"):
        load_config("t5_tiny", ["train.optimizer=adafactor", "train.weight_decay=0.01"])
