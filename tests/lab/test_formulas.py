"""Prediction formulas without compiling: hand-computed bytes, links, roofline arithmetic, profiles."""

import math
import types

import pytest
from flax import nnx

from jaxlm import parallel
from jaxlm.config import load_config
from jaxlm.errors import JaxlmError
from jaxlm.lab.hardware import PROFILES, hardware_for, profile_of_device
from jaxlm.lab.layout import make_layout
from jaxlm.lab.memory import predict_memory
from jaxlm.lab.report import _gap
from jaxlm.lab.roofline import Roofline, link_of
from jaxlm.lab.sweep import Comparison
from jaxlm.lab.traffic import by_kind, predict_traffic
from jaxlm.models import build_model
from jaxlm.train.flops import peak_flops
from jaxlm.train.step import split_model

TINY = ["model.vocab_size=256", "model.d_model=64", "model.num_heads=4", "model.d_ff=128", "model.num_layers=2",
        "model.max_length=32", "data.batch_size=8", "data.seq_length=16"]


def layout_of(overrides, sizes, platform="cpu"):
    cfg = load_config("gpt2_tiny", TINY + overrides)
    _, params, _ = split_model(nnx.eval_shape(lambda: build_model(cfg.model)))
    return make_layout(cfg, params, parallel.rules_for(cfg.parallel.strategy), sizes, platform)


def test_fsdp_parameter_bytes_and_gathers_by_hand():
    layout = layout_of(["parallel.strategy=fsdp"], {"data": 1, "fsdp": 8, "tensor": 1})
    total = sum(math.prod(t.shape) for t in layout.tensors)
    assert total == 256 * 64 + 32 * 64 + 2 * (4 * 64 * 64 + 4 * 64 + 2 * 64 * 128 + 128 + 64 + 4 * 64) + 2 * 64
    # every parameter but the q/k/v biases ('heads') and the mlp input bias ('mlp') is split 8 ways
    unsplit = 2 * (3 * 64 + 128)
    assert predict_memory(layout).parameters == pytest.approx(4 * ((total - unsplit) / 8 + unsplit))
    # weights are gathered once (unrolled, no remat): local · 7 bytes each; the position table is a
    # lookup (its rows are exchanged, not gathered)
    gathered = 4 * (total - unsplit - 32 * 64) / 8 * 7
    assert by_kind(predict_traffic(layout))["all-gather"] == pytest.approx(gathered)


def test_gpu_reduces_fsdp_gradients_by_reduce_scatter_cpu_by_whole_all_reduce():
    sizes = {"data": 2, "fsdp": 4, "tensor": 1}
    cpu, gpu = by_kind(predict_traffic(layout_of(["parallel.strategy=fsdp"], sizes))), by_kind(
        predict_traffic(layout_of(["parallel.strategy=fsdp"], sizes, "gpu")))
    assert cpu["reduce-scatter"] == 0 and gpu["reduce-scatter"] > 0
    assert gpu["all-reduce"] < cpu["all-reduce"]


def test_remat_keeps_fewer_activations():
    """In a deep enough stack (full remat still holds one whole block while it recomputes it)."""
    sizes = {"data": 8, "fsdp": 1, "tensor": 1}
    kept = {policy: predict_memory(layout_of([f"model.remat={policy}", "model.num_layers=8"], sizes)).activations
            for policy in ("none", "dots", "dots_no_batch", "full")}
    assert kept["full"] < kept["dots_no_batch"] < kept["dots"] < kept["none"]


def test_tensor_axis_stays_on_nvlink_and_fsdp_across_nodes_crosses_infiniband():
    layout = types.SimpleNamespace(sizes={"data": 1, "fsdp": 32, "tensor": 8})
    h100 = hardware_for("h100")
    assert link_of(layout, ("tensor",), h100) == "fast"
    assert link_of(layout, ("fsdp",), h100) == "slow"
    assert link_of(layout, ("fsdp",), hardware_for("tpu_v5e")) == "fast"  # a 256-chip slice


def test_roofline_takes_the_largest_term():
    roof = Roofline({"compute": 2.0, "hbm": 1.0, "fast link": 3.0, "slow link": 0.0}, 4e12, 1e12)
    assert (roof.step_seconds, roof.regime) == (3.0, "fast link")
    assert roof.mfu == pytest.approx(4e12 / (3.0 * 1e12))


@pytest.mark.parametrize("kind, name", [("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H200", "h200"),
                                        ("NVIDIA A100-SXM4-80GB", "a100"), ("NVIDIA L4", None),
                                        ("TPU v5 lite", "tpu_v5e"), ("TPU v5p", "tpu_v5p"), ("cpu", None)])
def test_device_kinds_map_to_profiles(kind, name):
    profile = profile_of_device(kind)
    assert (profile.name if profile else None) == name
    if profile:  # the roofline's peak is the one the train loop's MFU divides by
        assert profile.peak_flops == peak_flops(types.SimpleNamespace(device_kind=kind))


def test_profiles_cite_sources_and_unknown_names_are_one_line_errors():
    assert all(p.sources and p.peak_flops > 0 and p.fast_link > p.slow_link for p in PROFILES.values())
    with pytest.raises(JaxlmError, match="pick one of h100, h200, a100, tpu_v5e, tpu_v5p"):
        hardware_for("v100")


def test_a_note_explains_a_gap_without_hiding_its_flag_and_only_incomparable_figures_have_no_gap():
    explained = Comparison("temporaries bytes/device", 100.0, 150.0, "activations are an estimate")
    assert explained.gap == pytest.approx(-1 / 3) and explained.flagged
    assert "⚑" in _gap(explained)
    assert not Comparison("state bytes/device", 105.0, 100.0).flagged  # 5 % apart
    other_device = Comparison("MFU", 0.4, 0.01, "measured on cpu, predicted for h100", comparable=False)
    assert other_device.gap is None and not other_device.flagged and _gap(other_device) == "not comparable"
