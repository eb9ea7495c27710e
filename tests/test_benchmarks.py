"""The train-step benchmark as a GPU session runs it: without grain, TFDS or tensorflow (the GPU
image has none), and with a setting name it does not know refused in one line."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_train_step_benchmark_runs_without_grain_tfds_or_tensorflow():
    """The GPU image has none of them: the train step and its benchmark must not import the loader."""
    probe = ("import runpy, sys\n"
             "for name in ('grain', 'tensorflow_datasets', 'tensorflow'):\n"
             "    sys.modules[name] = None  # importing it raises ImportError\n"
             "sys.argv = ['train_step.py', '--preset', 'gpt2_tiny', '--batch', '8', '--length', '16', '--steps', '1',\n"
             "            '--rounds', '1', 'model.num_layers=1', '--only', 'float32 / xla']\n"
             "runpy.run_path('benchmarks/train_step.py', run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("float32 / xla")]
    assert float(row.split()[3]) > 0  # step ms


def test_an_unknown_setting_name_is_refused_naming_the_known_ones():
    # the mistake this guards against: `--only NAME key=value` takes the override as a second setting name
    command = [sys.executable, "benchmarks/train_step.py", "--only", "float32 / xla", "model.num_layers=2"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--only 'model.num_layers=2': no such setting" in result.stderr and "'float32 / xla'" in result.stderr
