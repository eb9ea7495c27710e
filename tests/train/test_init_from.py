"""`train.init_from`: every layer loads across the scanned and unrolled layouts, from a run's
workdir or a model-only checkpoint; a checkpoint sharing no transformer layer is refused."""

import dataclasses

import jax
import numpy as np
import pytest
from flax import nnx

from jaxlm.config import load_config
from jaxlm.errors import JaxlmError
from jaxlm.models import build_model
from jaxlm.nn.stack import unstack_layers
from jaxlm.train import loop as loop_module
from jaxlm.train.checkpoint import Checkpointer
from jaxlm.train.session import build_session
from tests.train.test_loop import SMALL

TWO_LAYERS = [*SMALL, "model.num_layers=2", "train.eval_batches=0"]


def per_layer(model):
    """{dotted name: numpy array} of a model's parameters, layer stacks split (independent of params_io)."""
    flat = {}

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = np.asarray(value)

    walk(unstack_layers(nnx.to_pure_dict(nnx.state(model, nnx.Param))), "")
    return flat


def test_init_from_a_scanned_run_loads_every_layer_into_an_unrolled_model_and_back(tmp_path):
    from jaxlm.train.params_io import init_params_from, save_params

    source_cfg = load_config("gpt2_tiny", [*TWO_LAYERS, "model.scan_layers=true"])
    source = build_session(source_cfg)  # a scanned run's checkpoint (of step 0: the layers differ already)
    checkpoints = Checkpointer(tmp_path / "scanned" / "checkpoints", source_cfg.checkpoint)
    checkpoints.save(0, source.state, {}, source_cfg.to_dict())
    checkpoints.close()
    lines = []
    unrolled_cfg = load_config("gpt2_tiny", [*TWO_LAYERS, f"train.init_from={tmp_path / 'scanned'}"])
    started = build_session(unrolled_cfg, load_params=loop_module._init_from(unrolled_cfg, lines.append))  # as train
    count = len(per_layer(started.model()))
    assert any(line.startswith(f"initialised {count} of {count} parameter arrays") for line in lines), lines

    unrolled = build_model(unrolled_cfg.model, seed=5)
    report = init_params_from(tmp_path / "scanned", unrolled)  # the run's newest checkpoint
    assert not report.fresh and not report.unused and len(report.loaded) == count
    expected = per_layer(source.model())
    assert {name for name in expected if ".layers.1." in name}
    for name, value in per_layer(unrolled).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)

    save_params(tmp_path / "model-only", unrolled, unrolled_cfg)
    scanned = build_model(dataclasses.replace(source_cfg.model), seed=6)
    report = init_params_from(tmp_path / "model-only", scanned)
    assert not report.fresh and not report.unused
    assert jax.tree.leaves(nnx.state(scanned.decoder.layers, nnx.Param))[0].shape[0] == 2
    for name, value in per_layer(scanned).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


def test_init_from_a_checkpoint_without_a_matching_layer_is_refused(tmp_path):
    from jaxlm.train.params_io import init_params_from, save_params

    encoder_cfg = load_config("bert_tiny", SMALL)
    save_params(tmp_path, build_model(encoder_cfg.model), encoder_cfg)
    decoder = build_model(load_config("gpt2_tiny", SMALL).model)
    with pytest.raises(JaxlmError, match=r"train\.init_from: no transformer layer of .*\(it has 'encoder\.layers\.0\."):
        init_params_from(tmp_path, decoder)
