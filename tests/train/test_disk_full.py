"""A disk that fills up during a run: one error line naming the step whose checkpoint failed, the
earlier checkpoints intact, no temporary directory left behind.

The disk is a real tmpfs, shrunk to leave no room for a second checkpoint, in a private
user+mount namespace (`unshare -rm`) where the kernel permits it; elsewhere the loader item's
write raises ENOSPC, as a full disk would."""

import errno
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from jaxlm.cli import main
from jaxlm.train import process_item
from jaxlm.train.trained import load_session
from tests.train.test_loop import SMALL

RUN = [*SMALL, "train.steps=4", "train.log_every=1", "train.eval_batches=0", "checkpoint.every=2"]
ROOM_KB = 300  # left free after the first checkpoint: enough for logs, not for a second checkpoint (~1 MB)


def _tmpfs_permitted() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


def _train_on_a_filling_tmpfs(tmp_path):
    """In a private mount namespace: `jaxlm train` to step 2 on a tmpfs, the tmpfs shrunk to what
    it holds plus ROOM_KB, then the run resumed towards step 4. Its exit code and stderr, and the
    workdir copied out before the namespace (and its tmpfs) goes away."""
    mount, kept = tmp_path / "mnt", tmp_path / "kept"
    mount.mkdir()

    def train(steps):
        return shlex.join([sys.executable, "-m", "jaxlm.cli", "train", "gpt2_tiny", *RUN, f"train.steps={steps}",
                           f"workdir={mount / 'run'}", "--no-progress"])

    script = (f"mount -t tmpfs -o size=64m tmpfs {mount} || exit 99; {train(2)} > /dev/null 2>&1 || exit 98; "
              f"used=$(du -sk {mount} | cut -f1); mount -o remount,size=$((used + {ROOM_KB}))k {mount} || exit 99; "
              f"{train(4)}; code=$?; cp -a {mount / 'run'} {kept}; exit $code")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode not in (98, 99), done.stderr
    return done.returncode, done.stderr, kept


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_one_line_and_keeps_the_earlier_checkpoint(tmp_path, monkeypatch, capsys):
    if _tmpfs_permitted():
        code, err, workdir = _train_on_a_filling_tmpfs(tmp_path)
    else:
        save = process_item.ProcessStates.save

        def disk_full_at_step_4(self, directory, args):
            if "4.orbax-checkpoint-tmp" in str(directory):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return save(self, directory, args)

        monkeypatch.setattr(process_item.ProcessStates, "save", disk_full_at_step_4)
        workdir = tmp_path / "run"
        code, err = main(["train", "gpt2_tiny", *RUN, f"workdir={workdir}", "--no-progress"]), capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and lines[-1].startswith("error: checkpoint step 4 could not be written"), err
    assert "(No space left on device)" in lines[-1] and "step 2 is the newest complete checkpoint" in lines[-1]
    assert "Traceback" not in err
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2"]  # no temporary directory
    _, step = load_session(workdir)
    assert step == 2
