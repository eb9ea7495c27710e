"""AdamW recipe: weight-decay mask, schedule shape."""

import numpy as np
import pytest
from flax import nnx

from jaxlm.config import ConfigError, load_config
from jaxlm.models import build_model
from jaxlm.train.optimizer import learning_rate_schedule, weight_decay_mask


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
