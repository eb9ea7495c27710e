"""`jaxlm info CONFIG`: the parameter count and tree, or a one-line error and exit code 2."""

from __future__ import annotations

from jaxlm.cli import main
from jaxlm.config import load_config
from jaxlm.models import build_model, count_params


def test_info_prints_the_parameter_tree_and_count(capsys):
    assert main(["info", "gpt2_tiny"]) == 0
    out = capsys.readouterr().out
    cfg = load_config("gpt2_tiny").model
    assert f"{count_params(build_model(cfg)):,} parameters" in out
    line = next(row for row in out.splitlines() if row.startswith("decoder.layers.0.self_attention.query.kernel"))
    assert f"({cfg.d_model}, {cfg.d_model})" in line and "float32" in line and "('embed', 'heads')" in line


def test_info_with_a_misspelled_override_exits_2_with_one_line(capsys):
    assert main(["info", "gpt2_tiny", "model.d_modle=3"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error:") and "model.d_modle" in lines[0] and "d_model" in lines[0]
