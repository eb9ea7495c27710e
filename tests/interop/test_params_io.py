"""Model-only checkpoints restore into a sharded model, keeping its shardings and dtype."""

import dataclasses

import numpy as np

from jaxlm import parallel
from jaxlm.config import load_config
from jaxlm.interop.layout import model_weights
from jaxlm.models import build_model
from jaxlm.train.params_io import restore_params_into, save_params


def test_restore_into_a_sharded_scanned_bfloat16_model_keeps_its_shardings(tmp_path):
    cfg = load_config("gpt2_tiny", ["model.d_model=64", "model.vocab_size=256", "parallel.strategy=fsdp"])
    source = build_model(cfg.model, seed=1)
    save_params(tmp_path, source, cfg)
    mesh = parallel.make_mesh(cfg.parallel)
    model_cfg = dataclasses.replace(cfg.model, scan_layers=True, param_dtype="bfloat16")
    model = parallel.create_sharded_model(model_cfg, mesh, parallel.rules_for("fsdp"), seed=0)
    kernel = model.decoder.layers.feed_forward.wi_0.kernel
    sharding = kernel[...].sharding
    assert len(sharding.device_set) == 8

    restore_params_into(tmp_path, model)

    assert kernel[...].sharding == sharding and kernel[...].dtype == np.dtype("bfloat16")
    restored, expected = model_weights(model), model_weights(source)
    for path, value in expected.items():
        np.testing.assert_allclose(restored[path].astype(np.float32), value, rtol=1e-2, atol=1e-2, err_msg=path)
