"""The typed config: strict keys, checked values, key=value overrides, one-line errors."""

from __future__ import annotations

import pytest

from jaxlm.cli import main
from jaxlm.config import Config, ConfigError, load_config, preset_names


def error_of(*overrides: str, preset: str = "gpt2_tiny") -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(preset, list(overrides))
    message = str(caught.value)
    assert "\n" not in message, f"error spans several lines: {message!r}"
    return message


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads(name):
    cfg = load_config(name)
    assert isinstance(cfg, Config)
    assert cfg.name == name


def test_overrides_replace_values_with_the_declared_types():
    cfg = load_config("gpt2_tiny", [
        "model.d_model=64", "model.scan_layers=true", "model.dropout_rate=0", "train.learning_rate=1e-4",
        "model.activation=relu",
    ])
    assert cfg.model.d_model == 64
    assert cfg.model.scan_layers is True
    assert cfg.model.dropout_rate == 0.0 and isinstance(cfg.model.dropout_rate, float)
    assert cfg.train.learning_rate == pytest.approx(1e-4)
    assert cfg.model.activation == "relu"


def test_misspelled_key_names_it_and_the_closest_valid_key():
    message = error_of("model.d_modle=3")
    assert "model.d_modle" in message and "d_model" in message.replace("d_modle", "")


def test_misspelled_section_names_the_closest_section(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: {family: decoder, vocab_size: 8, d_model: 8, num_heads: 2, d_ff: 8, num_layers: 1}\n"
                    "trian: {steps: 3}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'trian'.*'train'"):
        load_config(str(path))


def test_override_values_are_type_checked():
    assert "model.d_model" in error_of("model.d_model=wide") and "integer" in error_of("model.d_model=wide")
    assert "model.scan_layers" in error_of("model.scan_layers=maybe")
    assert "train.learning_rate" in error_of("train.learning_rate=fast")


def test_heads_that_do_not_divide_the_width_are_rejected():
    message = error_of("model.num_heads=3")
    assert message.startswith("model.num_heads:") and "divide" in message


@pytest.mark.parametrize("key", ["model.d_ff", "model.num_layers", "model.vocab_size", "data.batch_size"])
def test_negative_sizes_are_rejected(key):
    message = error_of(f"{key}=-4")
    assert message.startswith(f"{key}:") and "positive" in message


def test_unknown_activation_names_the_choices():
    message = error_of("model.activation=swish")
    assert message.startswith("model.activation:") and "'swish'" in message and "'silu'" in message


@pytest.mark.parametrize(("overrides", "key"), [
    (("model.position=sinusoidal", "model.d_model=129", "model.num_heads=1"), "model.d_model"),
    (("model.position=rotary", "model.head_dim=7"), "model.head_dim"),
    (("model.position=relative", "model.relative_buckets=2"), "model.relative_buckets"),
    (("model.position=relative", "model.relative_max_distance=16"), "model.relative_max_distance"),
])
def test_position_settings_the_encodings_cannot_honour_are_rejected(overrides, key):
    assert error_of(*overrides).startswith(f"{key}:")


def test_inconsistent_options_name_the_key_and_the_fix():
    message = error_of("model.attention_impl=xla", "model.attention_dropout_rate=0.1")
    assert message.startswith("model.attention_dropout_rate:") and "attention_impl" in message


def test_override_must_be_key_equals_value():
    assert "key=value" in error_of("model.d_model")


def test_bad_yaml_is_a_one_line_error_with_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("model:\n  d_model: [1, 2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert "not valid YAML" in str(caught.value) and "line" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_preset_lists_the_available_ones():
    message = error_of(preset="gpt3_huge")
    assert "gpt3_huge" in message and "gpt2_tiny" in message


def test_missing_required_key_is_named(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text("model: {family: decoder, vocab_size: 8, d_model: 8, num_heads: 2, num_layers: 1}\n")
    with pytest.raises(ConfigError, match=r"missing key 'model.d_ff'"):
        load_config(str(path))


def test_an_empty_yaml_file_says_it_is_empty_and_how_to_start(tmp_path, capsys):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: is empty; start from a preset: jaxlm config gpt2_tiny > my_run.yaml\n"


def test_a_binary_file_as_config_is_one_line(tmp_path):
    path = tmp_path / "weights.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_an_unknown_section_lists_the_valid_ones():
    message = error_of("optimizer.learning_rate=0.1")
    assert message == ("unknown key 'optimizer'; the top-level keys are "
                       "model, name, workdir, data, train, checkpoint, parallel")


@pytest.mark.parametrize(("preset", "objective", "fix"), [
    ("gpt2_tiny", "mlm_nsp", "data.objective=causal_lm"),
    ("bert_tiny", "span_corruption", "data.objective=mlm_nsp or classification"),
    ("t5_tiny", "causal_lm", "data.objective=span_corruption or seq2seq"),
])
def test_an_objective_for_another_family_is_rejected_at_config_time(capsys, preset, objective, fix):
    assert main(["info", preset, f"data.objective={objective}"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    family = load_config(preset).model.family
    assert line.startswith(f"error: data.objective: {objective} needs model.family=") and f"not {family}" in line
    assert fix in line
