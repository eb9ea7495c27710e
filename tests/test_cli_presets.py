"""`jaxlm --version`, `jaxlm presets` and `jaxlm config`: what a new user runs to find their way."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from importlib import metadata

import pytest
import yaml

import jaxlm
from jaxlm.cli import main
from jaxlm.config import load_config, preset_names


def test_version_names_jaxlm_jax_and_flax(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out == f"jaxlm {jaxlm.__version__} (jax {metadata.version('jax')}, flax {metadata.version('flax')})"


def test_presets_lists_every_preset_on_one_line_with_its_family(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in preset_names():
        (line,) = [row for row in lines if row.split()[0] == name]
        assert load_config(name).model.family in line.split()
    assert {"bert_tiny", "gpt2_tiny", "t5_tiny"} <= set(preset_names())
    bert_tiny = next(row for row in lines if row.startswith("bert_tiny "))
    assert "A tiny BERT" in bert_tiny


def test_config_prints_the_resolved_config_as_yaml_that_loads_back(capsys, tmp_path):
    assert main(["config", "t5_tiny", "train.steps=7", "model.dropout_rate=0"]) == 0
    text = capsys.readouterr().out
    data = yaml.safe_load(text)
    assert list(data)[:2] == ["name", "workdir"]
    assert data["train"]["steps"] == 7 and data["model"]["dropout_rate"] == 0.0
    assert data["model"]["head_dim"] == 0 and "nan_policy" in data["train"]  # defaults are spelled out
    path = tmp_path / "resolved.yaml"
    path.write_text(text)
    assert load_config(str(path)) == load_config("t5_tiny", ["train.steps=7", "model.dropout_rate=0"])


def test_config_with_an_unknown_preset_is_one_line_listing_the_presets(capsys):
    assert main(["config", "gpt3_tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gpt3_tiny" in err and "gpt2_tiny" in err


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[1])}
    done = subprocess.run(f"{sys.executable} -m jaxlm.cli presets | head -1", shell=True, env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert len(done.stdout.splitlines()) == 1
    assert done.stderr == ""
