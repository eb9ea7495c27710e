"""Bad input gets one JaxlmError line naming what is wrong."""

import dataclasses
import json
import sys

import pytest

from jaxlm.cli import main
from jaxlm.config import load_config
from jaxlm.errors import JaxlmError
from jaxlm.interop import load_hf_folder, to_hf_config
from jaxlm.models import build_model
from jaxlm.train.params_io import restore_params_into, save_params
from tests.interop import helpers


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2")
    helpers.gpt2().save_pretrained(folder)
    return folder


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


def raises_one_line(match, function, *args, **kwargs):
    with pytest.raises(JaxlmError, match=match) as error:
        function(*args, **kwargs)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_folder_without_config_json_is_named(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    raises_one_line(r"no config\.json", load_hf_folder, tmp_path)


def test_folder_without_weights_is_named(tmp_path, gpt2_folder):
    (tmp_path / "config.json").write_text((gpt2_folder / "config.json").read_text())
    raises_one_line(r"no model\.safetensors or pytorch_model\.bin", load_hf_folder, tmp_path)


def test_unsupported_architecture_is_named(tmp_path, gpt2_folder):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((gpt2_folder / name).read_bytes())
    edit_config(tmp_path, architectures=["RobertaForMaskedLM"], model_type="roberta")
    raises_one_line("unsupported architecture RobertaForMaskedLM", load_hf_folder, tmp_path)


def test_shape_mismatch_names_the_weight_and_both_shapes(tmp_path, gpt2_folder):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((gpt2_folder / name).read_bytes())
    edit_config(tmp_path, n_inner=40)
    message = raises_one_line(r"'transformer\.h\.0\.mlp\.c_fc\.weight'", load_hf_folder, tmp_path)
    assert "(30, 37)" in message and "(30, 40)" in message


def test_model_transformers_cannot_express_is_refused():
    cfg = load_config("gpt2_tiny", ["model.position=rotary"]).model
    raises_one_line(r"model\.position='rotary' cannot be expressed as GPT2LMHeadModel", to_hf_config, cfg)


def test_checkpoint_shape_mismatch_names_the_parameter(tmp_path):
    cfg = load_config("gpt2_tiny", ["model.vocab_size=101", "model.d_model=30", "model.num_heads=3"])
    save_params(tmp_path, build_model(cfg.model), cfg)
    other = build_model(dataclasses.replace(cfg.model, d_ff=40))
    raises_one_line(r"'decoder\.layers\.0\.feed_forward\.wi_0\.bias' has shape \(512,\)", restore_params_into,
                    tmp_path, other)


def test_cli_prints_one_error_line_and_exits_2(tmp_path, capsys):
    assert main(["convert", "--from-hf", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "config.json" in err and err.count("\n") == 1


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_a_truncated_safetensors_file_is_one_line(tmp_path, capsys, gpt2_folder, keep):
    weights = (gpt2_folder / "model.safetensors").read_bytes()
    (tmp_path / "config.json").write_text((gpt2_folder / "config.json").read_text())
    (tmp_path / "model.safetensors").write_bytes(weights[: int(len(weights) * keep)])
    assert main(["convert", "--from-hf", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {tmp_path / 'model.safetensors'}: cannot be read (")
    assert line.endswith("download or save it again")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("direction", "module"), [
    ("--from-hf", "safetensors"), ("--from-hf", "torch"), ("--to-hf", "transformers"),
])
def test_convert_without_its_optional_packages_says_what_to_install(tmp_path, capsys, monkeypatch, direction, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    assert main(["convert", direction, str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"error: convert {direction} needs {module}, not installed; pip install {module}"
