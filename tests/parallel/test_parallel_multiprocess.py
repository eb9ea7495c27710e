"""Two processes × 4 CPU devices (gloo collectives) train, checkpoint, are killed, resume, and
match the single-process 8-device run."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("multiprocess_worker.py")
TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(phase: str, workdir: pathlib.Path) -> list[subprocess.Popen]:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WORKER.parent), env.get("PYTHONPATH")]))
    coordinator = f"127.0.0.1:{_free_port()}"
    return [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(i), "2", coordinator, str(workdir), phase],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]


def _kill(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()


def _wait_for_line(process: subprocess.Popen, text: str, deadline: float) -> str:
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.strip() == text:
            return ""
    return "".join(seen[-30:])


@pytest.mark.multiprocess
def test_two_processes_train_checkpoint_die_resume_and_match_one_process(train_run, tmp_path):
    _, single = train_run("decoder", "fsdp_tp")
    deadline = time.monotonic() + TIMEOUT_S

    first = _launch("first", tmp_path)
    try:
        for process in first:
            log = _wait_for_line(process, "SAVED", deadline)
            assert log == "", f"worker did not checkpoint:\n{log}"
    finally:
        _kill(first)  # SIGKILL: no clean shutdown, as when a job is preempted

    second = _launch("resume", tmp_path)
    try:
        for process in second:
            out, _ = process.communicate(timeout=max(deadline - time.monotonic(), 1))
            assert process.returncode == 0, out[-3000:]
    finally:
        _kill(second)

    before = json.loads((tmp_path / "losses_first.json").read_text())
    after = json.loads((tmp_path / "losses_resume.json").read_text())
    assert after["start"] == 3
    np.testing.assert_allclose(before["losses"] + after["losses"], single, rtol=1e-5)
