"""Mesh shapes from config, and the one-line errors for layouts that cannot work."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax.sharding import AxisType

from jaxlm import parallel
from jaxlm.config import ConfigError, load_config
from jaxlm.errors import JaxlmError


def config(*overrides: str):
    return load_config("gpt2_tiny", list(overrides))


def test_conftest_gives_eight_devices():
    assert jax.device_count() == 8


@pytest.mark.parametrize(
    ("overrides", "shape"),
    [
        ((), (8, 1, 1, 1, 1)),
        (("parallel.strategy=fsdp",), (1, 1, 8, 1, 1)),
        (("parallel.strategy=tp",), (1, 1, 1, 1, 8)),
        (("parallel.strategy=dp_tp", "parallel.tensor=2"), (4, 1, 1, 1, 2)),
        (("parallel.strategy=fsdp_tp", "parallel.tensor=2"), (1, 1, 4, 1, 2)),
        (("parallel.strategy=fsdp_tp", "parallel.data=-1", "parallel.fsdp=2", "parallel.tensor=2"), (2, 1, 2, 1, 2)),
        (("parallel.strategy=fsdp", "parallel.data=2"), (2, 1, 4, 1, 1)),
        (("parallel.context=2", "parallel.stage=2"), (2, 2, 1, 2, 1)),
        (("parallel.strategy=fsdp_tp", "parallel.context=2", "parallel.tensor=2"), (1, 1, 2, 2, 2)),
    ],
)
def test_mesh_shape_fills_the_strategy_axis_or_the_minus_one_axis(overrides, shape):
    mesh = parallel.make_mesh(config(*overrides).parallel)
    assert mesh.axis_names == ("data", "stage", "fsdp", "context", "tensor") == parallel.MESH_AXES
    assert mesh.devices.shape == shape


def test_mesh_axes_are_auto():
    mesh = parallel.make_mesh(config().parallel)
    assert mesh.axis_types == (AxisType.Auto,) * 5


def test_mesh_over_a_subset_of_devices():
    mesh = parallel.make_mesh(config().parallel, devices=jax.devices()[:2])
    assert mesh.devices.shape == (2, 1, 1, 1, 1)


def test_mesh_product_unequal_to_device_count_names_keys_and_fix():
    cfg = config("parallel.strategy=fsdp_tp", "parallel.data=2", "parallel.fsdp=1", "parallel.tensor=2")
    with pytest.raises(ConfigError) as error:
        parallel.make_mesh(cfg.parallel)
    message = str(error.value)
    assert message == ("parallel: parallel.data=2 * parallel.tensor=2 uses 4 of 8 devices; "
                       "set parallel.fsdp=-1 to fill the rest")


@pytest.mark.parametrize("overrides", [
    ("parallel.strategy=fsdp_tp", "parallel.tensor=3"),  # fsdp fills: 8/3 devices
    ("parallel.strategy=tp", "parallel.tensor=3"),  # nothing fills: 3 of 8
    ("parallel.strategy=fsdp_tp", "parallel.data=3", "parallel.fsdp=1", "parallel.tensor=2"),
])
def test_sizes_that_do_not_divide_the_devices_list_the_products_that_do(overrides):
    with pytest.raises(ConfigError) as error:
        parallel.make_mesh(config(*overrides).parallel)
    message = str(error.value)
    assert message.startswith("parallel: parallel.") and "does not divide the 8 devices" in message
    assert message.endswith("use sizes whose product is one of 1, 2, 4, 8") and "\n" not in message


def test_more_devices_asked_than_visible_says_how_to_simulate_them():
    cfg = config("parallel.strategy=fsdp_tp", "parallel.tensor=2")
    with pytest.raises(ConfigError) as error:
        parallel.make_mesh(cfg.parallel, devices=jax.devices()[:1])
    assert str(error.value) == (
        "parallel: parallel.tensor=2 needs 2 devices but JAX sees 1; lower it; on CPU, simulate 8 devices "
        "with XLA_FLAGS=--xla_force_host_platform_device_count=8"
    )


def test_tensor_axis_under_a_strategy_without_tensor_sharding_is_an_error():
    with pytest.raises(ConfigError, match=r"parallel\.tensor: strategy fsdp shards nothing over tensor=2; set"):
        config("parallel.strategy=fsdp", "parallel.tensor=2")


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ConfigError, match=r"parallel\.strategy: 'zero3' is not one of"):
        config("parallel.strategy=zero3")


def test_batch_not_divisible_by_data_times_fsdp_names_keys_and_fix():
    cfg = config("parallel.strategy=fsdp", "parallel.data=2", "data.batch_size=12")
    with pytest.raises(ConfigError) as error:
        parallel.check_divisibility(cfg, parallel.make_mesh(cfg.parallel))
    assert str(error.value) == (
        "data.batch_size=12 is not divisible by parallel data*fsdp = 8; set data.batch_size to a multiple of 8"
    )


@pytest.mark.parametrize(("key", "overrides"), [
    ("num_heads", ("model.num_heads=2",)),
    ("d_ff", ("model.d_ff=510",)),
])
def test_heads_or_mlp_not_divisible_by_tensor_names_keys_and_fix(key, overrides):
    cfg = config("parallel.strategy=tp", "parallel.tensor=4", "parallel.data=2", *overrides)
    with pytest.raises(ConfigError) as error:
        parallel.check_divisibility(cfg, parallel.make_mesh(cfg.parallel))
    assert str(error.value).startswith(f"model.{key}=")
    assert "not divisible by parallel.tensor=4; set parallel.tensor to a divisor of" in str(error.value)


def test_a_layout_that_fits_passes_the_check():
    cfg = config("parallel.strategy=fsdp_tp", "parallel.tensor=2")
    parallel.check_divisibility(cfg, parallel.make_mesh(cfg.parallel))


def test_initialize_distributed_without_settings_is_single_process(monkeypatch):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    assert parallel.initialize_distributed() is False


def test_a_peer_timeout_for_a_single_process_run_is_named_as_ignored(monkeypatch):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.warns(UserWarning, match="--peer-timeout applies to multi-process runs only"):
        assert parallel.initialize_distributed(peer_timeout_s=10) is False


@pytest.mark.parametrize("coordinator", ["localhost", "localhost:abc", ":1234", "localhost:0", "localhost:70000"])
def test_a_coordinator_that_is_not_host_port_is_one_line_before_any_join(coordinator):
    # unchecked, "localhost" was an IndexError inside jax and "localhost:abc" waited out the 300 s join timeout
    with pytest.raises(JaxlmError, match=f"coordinator '{coordinator}' is not HOST:PORT"):
        parallel.initialize_distributed(coordinator=coordinator, num_processes=2, process_id=1)


def test_initialize_distributed_with_partial_settings_names_what_is_missing(monkeypatch):
    monkeypatch.delenv("JAX_PROCESS_ID", raising=False)
    monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
    with pytest.raises(JaxlmError, match="multi-process run needs process_id too"):
        parallel.initialize_distributed(coordinator="127.0.0.1:1234")


@pytest.mark.parametrize(("preset", "overrides", "message"), [
    ("gpt2_tiny", ("parallel.context=2", "data.seq_length=30"),
     "data.seq_length=30 does not split into 4 pieces (2*parallel.context); set data.seq_length to a multiple of 4"),
    ("bert_tiny", ("parallel.context=4", "data.seq_length=30"),
     "data.seq_length=30 does not split into 4 pieces (parallel.context); set data.seq_length to a multiple of 4"),
    ("gpt2_tiny", ("parallel.strategy=tp", "parallel.context=2", "parallel.sequence_parallel=true",
                   "data.seq_length=24"),
     "data.seq_length=24 does not split into 16 pieces (2*parallel.context*parallel.tensor); "
     "set data.seq_length to a multiple of 16"),
    ("t5_tiny", ("parallel.context=2",),
     "parallel.context=2 splits encoder or decoder sequences only, without relative position bias; "
     "model encoder_decoder with position=relative needs parallel.context=1"),
    ("gpt2_tiny", ("parallel.context=2", "model.attention_impl=reference", "model.attention_dropout_rate=0.1"),
     "parallel.context=2 has no attention dropout; set model.attention_dropout_rate=0"),
    ("gpt2_tiny", ("parallel.stage=2",),
     "parallel.stage=2 splits the scanned layer stack; set model.scan_layers=true"),
    ("gpt2_tiny", ("parallel.stage=2", "model.scan_layers=true", "model.num_layers=3"),
     "model.num_layers=3 is not divisible by parallel.stage=2; set parallel.stage to a divisor of 3"),
    ("t5_tiny", ("parallel.stage=2", "model.scan_layers=true", "model.num_layers=2", "model.num_decoder_layers=3"),
     "model.num_decoder_layers=3 is not divisible by parallel.stage=2; set parallel.stage to a divisor of 3"),
    ("gpt2_tiny", ("parallel.stage=2", "model.scan_layers=true", "data.batch_size=8"),
     "data.batch_size=8 does not split into parallel.pipeline_microbatches=4 microbatches over data*fsdp=4; "
     "set data.batch_size to a multiple of 16"),
])
def test_layouts_that_cannot_split_sequences_or_layers_name_keys_and_fix(preset, overrides, message):
    cfg = load_config(preset, list(overrides))
    with pytest.raises(ConfigError) as error:
        parallel.check_divisibility(cfg, parallel.make_mesh(cfg.parallel))
    assert str(error.value) == message


def test_sequence_parallelism_without_a_tensor_strategy_is_an_error():
    with pytest.raises(ConfigError, match=r"parallel\.sequence_parallel: splits sequences over the tensor axis, wh"):
        config("parallel.sequence_parallel=true")


def test_rule_tables_split_sequences_over_context_and_layers_over_stage():
    rules = dict(parallel.rules_for("fsdp_tp"))
    assert (rules["length"], rules["residual_length"], rules["layers"]) == ("context", "context", "stage")
    assert dict(parallel.rules_for("tp", sequence_parallel=True))["residual_length"] == ("context", "tensor")


def test_cli_names_the_key_of_a_layout_that_cannot_work(capsys, tmp_path):
    from jaxlm.cli import main

    assert main(["train", "gpt2_tiny", "parallel.stage=2", f"workdir={tmp_path}"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: parallel.stage=2 splits the scanned layer stack; set model.scan_layers=true"
    )


def test_pipeline_hook_on_an_unscanned_stack_is_an_error_not_a_silent_no_op():
    from jaxlm.models import build_model
    from jaxlm.nn.hooks import ExecutionHooks, use_hooks

    model = build_model(load_config("gpt2_tiny", ["model.num_layers=2"]).model)
    with use_hooks(ExecutionHooks(pipeline=parallel.GPipe(2))), pytest.raises(JaxlmError) as error:
        model(np.ones((2, 8), np.int32))
    assert str(error.value) == "pipeline stages split a scanned layer stack; set model.scan_layers=true"
