"""`jaxlm bench` as a user runs it: outputs, executed vs compiled-only rows, simulated devices, errors."""

import json

import pytest

from jaxlm.cli import main

# The decoder of test_predictions.py, so the compilation cache (conftest.py) serves both files.
TINY = ["model.vocab_size=256", "model.d_model=64", "model.num_heads=4", "model.d_ff=128", "model.num_layers=1",
        "model.max_length=32", "data.batch_size=8", "data.seq_length=16", "data.target_length=8"]


def bench(tmp_path, *args, overrides=()):
    return main(["bench", "gpt2_tiny", *TINY, *overrides, "--out", str(tmp_path), "--no-progress", *args])


def test_bench_writes_report_json_and_plots_for_executed_rows(tmp_path, capsys):
    assert bench(tmp_path, "--strategies", "dp,fsdp", "--steps", "2") == 0
    assert {p.name for p in tmp_path.iterdir()} == {
        "bench.md", "bench.json", "memory.png", "collectives.png", "step_time.png"}
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["devices"] == {"count": 8, "platform": "cpu", "kind": "cpu"}
    assert report["versions"]["jax"] and report["hardware"]["name"] == "h100" and report["hardware"]["sources"]
    rows = {row["strategy"]: row for row in report["results"]}
    for strategy, mesh in (("dp", {"data": 8, "stage": 1, "fsdp": 1, "context": 1, "tensor": 1}),
                          ("fsdp", {"data": 1, "stage": 1, "fsdp": 8, "context": 1, "tensor": 1})):
        row = rows[strategy]
        assert row["mesh"] == mesh and row["executed"]
        assert len(row["measured"]["step_seconds"]) == 2 and row["measured"]["tokens_per_second"] > 0
        assert row["measured"]["mfu"] is None  # a CPU has no peak to measure against
        assert {c["name"] for c in row["comparisons"]} >= {"state bytes/device", "all-reduce bytes/device", "MFU"}
    assert rows["fsdp"]["measured"]["collectives_by_kind"]["all-gather"]["count"] > 0
    out = capsys.readouterr().out
    assert "Executed: dp data8, fsdp fsdp8" in out and "| dp | 8×1×1×1×1 |" in out


def test_the_sweep_shows_its_progress_over_compiles_and_steps(tmp_path, capsys):
    """Without --no-progress: one bar over the strategy × mesh rows as they compile (naming the
    row), one over the timed steps."""
    assert main(["bench", "gpt2_tiny", *TINY, "--out", str(tmp_path), "--strategies", "dp", "fsdp",
                 "--steps", "2", "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "compile: 100%" in err and "2/2" in err and "fsdp" in err
    assert "run: 100%" in err and "4/4" in err


def test_a_layout_the_config_rejects_is_a_skipped_row_naming_the_fix(tmp_path, capsys, monkeypatch):
    """A bare mesh is tried with every strategy, a `strategy:` mesh only with its own; a row whose
    compiled memory does not fit the devices is compiled but not run."""
    monkeypatch.setattr("jaxlm.lab.sweep._device_memory", lambda: 1000.0)
    assert bench(tmp_path, "--strategies", "dp", "tp", "--meshes", "data=4,tensor=2", "fsdp_tp:fsdp=8",
                 "--steps", "1", "--no-plots") == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert [(row["strategy"], row["mesh_spec"]) for row in rows] == [
        ("dp", "data=4,tensor=2"), ("tp", "data=4,tensor=2")]
    assert "parallel.tensor" in rows[0]["skipped"]
    assert rows[1]["mesh"] == {"data": 4, "stage": 1, "fsdp": 1, "context": 1, "tensor": 2}
    assert rows[1]["not_executed"].startswith("compile only: needs") and rows[1]["not_executed"].endswith(
        "; 1 kB available")
    assert "## Skipped" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--strategies", "zero3"], "--strategies: zero3 not one of"),
    (["--meshes", "model=2"], "is not axis=size"),
    (["--meshes", "zero3:data=8"], "'zero3' is not one of"),
    (["--hardware", "tpu_v9"], "--hardware 'tpu_v9' is not a profile"),
    (["--steps", "-1"], "must be >= 0"),
])
def test_user_mistakes_are_one_line_errors(tmp_path, capsys, args, message):
    assert bench(tmp_path, "--no-plots", *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and err.count("\n") == 1


def test_64_device_compile_only_sweep_reports_what_it_did_not_run(tmp_path):
    """--devices starts a child process with 64 host devices (this one has 8)."""
    assert bench(tmp_path, "--devices", "64", "--steps", "0", "--strategies", "fsdp_tp",
                 "--meshes", "fsdp=64", "data=4,fsdp=8,tensor=2", "--hardware", "tpu_v5e", "--no-plots",
                 overrides=["data.batch_size=64"]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["devices"]["count"] == 64 and report["hardware"]["name"] == "tpu_v5e"
    compiled = report["results"]
    assert [tuple(row["mesh"].values()) for row in compiled] == [(1, 1, 64, 1, 1), (4, 1, 8, 1, 2)]
    for row in compiled:
        assert not row["executed"] and row["not_executed"] == "compile only (--steps 0)"
        assert row["measured"]["step_seconds"] == [] and row["measured"]["mfu"] is None
        assert row["predicted"]["step_seconds"] > 0 and row["predicted"]["regime"]
    markdown = (tmp_path / "bench.md").read_text()
    assert "Executed: nothing" in markdown and "Compiled only: fsdp_tp fsdp64 (compile only (--steps 0))" in markdown
