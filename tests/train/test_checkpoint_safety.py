"""Checkpoints never lose a run: another model is refused without touching files, corruption is
detected (checksums, step) and fallen back from, read-only commands change nothing."""

import errno
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from jaxlm.cli import main
from jaxlm.config import load_config
from jaxlm.errors import JaxlmError
from jaxlm.train import checkpoint as checkpoint_module
from jaxlm.train.loop import train
from jaxlm.train.trained import load_session
from tests.train.test_loop import SMALL

RUN = [*SMALL, "train.steps=4", "checkpoint.every=2", "train.eval_batches=0", "train.log_every=1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 4-step run with checkpoints at steps 2 and 4, and its losses."""
    workdir = tmp_path_factory.mktemp("trained") / "run"
    result = train(load_config("gpt2_tiny", [*RUN, f"workdir={workdir}"]), progress=False, console=lambda _: None)
    return workdir, result.losses


def copy_of(trained, tmp_path):
    return shutil.copytree(trained[0], tmp_path / "run")


def snapshot(directory):
    """Every path under `directory` with its size and modification time."""
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")}


def flip_bytes(step_dir):
    """Flip three bytes in the middle of the largest array data file of a step."""
    data_file = max((p for p in (step_dir / "state").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(data_file.read_bytes())
    for offset in (0, 1001, 2002):
        data[len(data) // 2 + offset] ^= 0x5A
    data_file.write_bytes(bytes(data))


def test_another_model_is_refused_in_one_line_and_nothing_is_touched(trained, tmp_path, capsys):
    workdir = copy_of(trained, tmp_path)
    before = snapshot(workdir)
    assert main(["eval", "gpt2_tiny", *RUN, f"workdir={workdir}", "model.d_model=64", "--batches", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint step 4") and err.count("\n") == 1, err
    assert "model.d_model: 32 saved, 64 here" in err and f"train.init_from={workdir}" in err
    with pytest.raises(JaxlmError, match=r"model\.num_layers: 1 saved, 2 here"):
        train(load_config("gpt2_tiny", [*RUN, f"workdir={workdir}", "model.num_layers=2"]), progress=False,
              console=lambda _: None)
    assert snapshot(workdir) == before
    again = train(load_config("gpt2_tiny", [*RUN, f"workdir={workdir}", "train.steps=5"]), progress=False,
                  console=lambda _: None)
    assert sorted(again.losses) == [5]  # the refused attempts cost the run nothing


def test_eval_of_a_workdir_without_a_run_says_so_and_creates_nothing(tmp_path, capsys):
    workdir = tmp_path / "nothing" / "here"
    assert main(["eval", "gpt2_tiny", *RUN, f"workdir={workdir}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no run in {workdir}") and err.count("\n") == 1, err
    assert not (tmp_path / "nothing").exists()


def test_flipped_bytes_are_caught_and_train_falls_back_setting_the_step_aside(trained, tmp_path):
    workdir = copy_of(trained, tmp_path)
    flip_bytes(workdir / "checkpoints" / "4")
    with pytest.warns(UserWarning, match=r"step 4 .* corrupt \(checksum mismatch in .*\); moved to unreadable-4"):
        again = train(load_config("gpt2_tiny", [*RUN, f"workdir={workdir}"]), progress=False, console=lambda _: None)
    assert again.losses == {3: trained[1][3], 4: trained[1][4]}  # resumed from step 2, exactly
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2", "4", "unreadable-4"]


def test_read_only_restore_falls_back_without_renaming_anything(trained, tmp_path):
    workdir = copy_of(trained, tmp_path)
    flip_bytes(workdir / "checkpoints" / "4")
    before = snapshot(workdir)
    with pytest.warns(UserWarning, match=r"step 4 .* corrupt \(checksum mismatch in [^)]*\); falling back"):
        _, step = load_session(workdir)
    assert step == 2 and snapshot(workdir) == before


def test_a_step_directory_holding_another_step_is_corrupt(trained, tmp_path):
    workdir = copy_of(trained, tmp_path)
    (workdir / "checkpoints" / "2").rename(workdir / "checkpoints" / "9")
    with pytest.warns(UserWarning, match=r"step 9 .* corrupt \(the directory is named 9 but holds step 2\)"):
        _, step = load_session(workdir)
    assert step == 4


def test_a_step_deleted_by_a_live_run_while_reading_is_skipped_quietly(trained, tmp_path, monkeypatch, recwarn):
    workdir = copy_of(trained, tmp_path)
    original = checkpoint_module.Checkpointer._restore_step

    def trainer_deletes_it_first(self, step, *args):
        if step == 4:
            shutil.rmtree(workdir / "checkpoints" / "4")
        return original(self, step, *args)

    monkeypatch.setattr(checkpoint_module.Checkpointer, "_restore_step", trainer_deletes_it_first)
    _, step = load_session(workdir)
    assert step == 2 and not [w for w in recwarn if "corrupt" in str(w.message)]


def test_checksums_are_exact_integer_sums_the_same_on_any_mesh():
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    from jaxlm.train.manifest import checksums

    x = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    words = x.view(np.uint32).reshape(-1).astype(np.uint64)
    weights = 2 * np.arange(words.size, dtype=np.uint64) + 1
    expected = [int(words.sum() % 2**32), int((words * weights).sum() % 2**32)]  # numpy, no wrap-around
    mesh = jax.make_mesh((8,), ("data",))
    sharded = jax.device_put(x, NamedSharding(mesh, PartitionSpec("data")))
    assert checksums([x]).tolist() == [expected]
    assert checksums([sharded]).tolist() == [expected]
    for index in (0, 77, 127):  # any single flipped bit changes both numbers
        flipped = x.copy().view(np.uint32)
        flipped.reshape(-1)[index] ^= 1 << (index % 32)
        assert all(a != b for a, b in zip(checksums([flipped.view(np.float32)])[0], expected, strict=True))


@pytest.mark.parametrize("failure", [PermissionError(errno.EACCES, "Permission denied"),
                                     OSError(errno.EMFILE, "Too many open files"), MemoryError()],
                         ids=["permissions", "open files", "memory"])
def test_a_read_that_fails_for_the_machine_not_the_data_moves_nothing(trained, tmp_path, monkeypatch, failure):
    """Only unreadable or inconsistent data is corruption: a step that could not be read for a
    reason of the machine stays where it is, and the run says what went wrong in one line."""
    workdir = copy_of(trained, tmp_path)
    before = snapshot(workdir)

    def fails(self, step, args=None):
        raise ValueError("restore failed") from failure  # as Orbax wraps what TensorStore raised

    monkeypatch.setattr(checkpoint_module.ocp.CheckpointManager, "restore", fails)
    with pytest.raises(JaxlmError, match=r"checkpoint step 4 .* could not be read .*nothing was moved") as raised:
        train(load_config("gpt2_tiny", [*RUN, f"workdir={workdir}"]), progress=False, console=lambda _: None)
    assert "\n" not in str(raised.value)
    assert snapshot(workdir) == before


def test_a_fallback_over_unreadable_data_prints_one_warning_and_no_library_traceback(trained, tmp_path):
    """Orbax and TensorStore report a failed read with tracebacks of their own, some only at exit
    (abandoned reads): `jaxlm train` in a process of its own shows the handled fallback as one warning."""
    workdir = copy_of(trained, tmp_path)
    for data_file in (workdir / "checkpoints" / "4" / "state").glob("ocdbt.process_*/d/*"):
        data_file.unlink()  # every array's data gone: each read fails inside TensorStore, the rest are dropped
    # one device, as a user runs it
    env = {**os.environ, "XLA_FLAGS": os.environ["XLA_FLAGS"].replace("--xla_force_host_platform_device_count=8", "")}
    done = subprocess.run([sys.executable, "-m", "jaxlm.cli", "train", "gpt2_tiny", *RUN, f"workdir={workdir}",
                           "train.steps=5", "train.examples=0", "--no-progress"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "step 4" in done.stderr and "corrupt" in done.stderr and "moved to unreadable-4" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr[-3000:]
    assert "train loss: step 3" in done.stdout
