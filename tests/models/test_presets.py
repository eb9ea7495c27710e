"""Every preset builds (abstractly, via `nnx.eval_shape`) with the reference parameter counts of
the Hugging Face models it mirrors, and every parameter carries logical axis names."""

from __future__ import annotations

import pytest
from flax import nnx

from jaxlm.config import load_config, preset_names
from jaxlm.models import build_model, count_params, parameter_table
from jaxlm.nn.params import LOGICAL_AXES

# Hugging Face counts, tied weights counted once.
REFERENCE_COUNTS = {
    "bert_base": 110_106_428,  # BertForPreTraining, bert-base-uncased
    "gpt2_small": 124_439_808,  # GPT2LMHeadModel, gpt2
    "t5_small": 60_506_624,  # T5ForConditionalGeneration, t5-small
    "t5_v1_1_small": 76_961_152,  # T5ForConditionalGeneration, google/t5-v1_1-small
}


@pytest.fixture(scope="module")
def abstract_model():
    """abstract_model(preset, *overrides): shapes and metadata only, no weights materialised."""
    built = {}

    def get(name: str, *overrides: str):
        if (name, overrides) not in built:
            cfg = load_config(name, list(overrides)).model
            built[name, overrides] = nnx.eval_shape(lambda: build_model(cfg))
        return built[name, overrides]

    return get


def test_presets_include_the_three_families_at_two_sizes():
    assert {"bert_tiny", "bert_base", "gpt2_tiny", "gpt2_small", "t5_tiny", "t5_small"} <= set(preset_names())


@pytest.mark.parametrize("name", sorted(REFERENCE_COUNTS))
def test_parameter_count_matches_hugging_face(abstract_model, name):
    assert count_params(abstract_model(name)) == REFERENCE_COUNTS[name]


@pytest.mark.parametrize("name", sorted(REFERENCE_COUNTS))
def test_scanning_the_layers_keeps_the_parameter_count(abstract_model, name):
    assert count_params(abstract_model(name, "model.scan_layers=true")) == REFERENCE_COUNTS[name]


@pytest.mark.parametrize("name", ["gpt2_small", "t5_small", "bert_base"])
def test_tied_output_projection_reuses_the_token_embedding(abstract_model, name):
    vocab_sized = [path for path, shape, _, _ in parameter_table(abstract_model(name)) if len(shape) == 2
                   and load_config(name).model.vocab_size in shape]
    assert vocab_sized == ["embedder.token.embedding"]


def test_untied_t5_v1_1_has_its_own_output_projection(abstract_model):
    rows = {path: (shape, axes) for path, shape, _, axes in parameter_table(abstract_model("t5_v1_1_small"))}
    assert rows["lm_head.projection.kernel"] == ((512, 32128), ("embed", "vocab"))


@pytest.mark.parametrize("scan", [False, True])
@pytest.mark.parametrize("name", preset_names())
def test_every_parameter_has_logical_axis_names(abstract_model, name, scan):
    rows = parameter_table(abstract_model(name, f"model.scan_layers={str(scan).lower()}"))
    assert rows
    for path, shape, _, axes in rows:
        assert len(axes) == len(shape), f"{path}: axes {axes} for shape {shape}"
        assert set(axes) <= set(LOGICAL_AXES), f"{path}: {axes} outside the vocabulary"
        assert (axes[0] == "layers") == (scan and ".layers." in f".{path}"), f"{path}: {axes}"
