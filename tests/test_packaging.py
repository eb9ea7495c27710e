"""A wheel (what a non-editable `pip install .` installs) carries the presets, and they load from it."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_a_wheel_installs_with_the_presets_and_loads_them_outside_the_source_tree(tmp_path):
    source = tmp_path / "source"  # a copy, so the build leaves nothing behind in the checkout
    source.mkdir()
    shutil.copytree(ROOT / "jaxlm", source / "jaxlm", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("jaxlm-*.whl")
    shipped = {pathlib.PurePosixPath(name).name for name in zipfile.ZipFile(wheel).namelist()
               if name.startswith("jaxlm/config/presets/")}
    assert shipped == {path.name for path in (ROOT / "jaxlm/config/presets").glob("*.yaml")}

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, cwd=tmp_path)
    probe = ("import jaxlm, jaxlm.config as c; print(jaxlm.__file__); "
             "print(c.load_config('bert_tiny').model.family, len(c.preset_names()))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", probe], check=True, cwd=tmp_path, env=env,
                         capture_output=True, text=True).stdout.split()
    assert out[0].startswith(str(site))
    assert out[1:] == ["encoder", str(len(shipped))]

