"""Two processes × 4 CPU devices (gloo collectives) behave like two hosts: they train,
checkpoint, are killed, resume, and match the single-process 8-device run — through the
parallel API directly, and through `jaxlm train`."""

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

from jaxlm.config import load_config
from jaxlm.train.loop import train

WORKER = pathlib.Path(__file__).with_name("multiprocess_worker.py")
TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args_for: list[list[str]], logs: pathlib.Path) -> list[tuple[subprocess.Popen, pathlib.Path]]:
    """One process per argument list, 4 CPU devices each, joined through a fresh coordinator."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WORKER.parent), env.get("PYTHONPATH")]))
    coordinator = f"127.0.0.1:{_free_port()}"
    started = []
    for i, args in enumerate(args_for):
        log = logs / f"process{i}-{time.monotonic_ns()}.log"
        command = [sys.executable, *[a.format(coordinator=coordinator, id=i, n=len(args_for)) for a in args]]
        with log.open("w") as out:
            started.append((subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT), log))
    return started


def _wait(started, deadline: float, until_line: str | None = None) -> None:
    """Wait for every process to exit 0 (or to print `until_line`); fail with its log otherwise."""
    for process, log in started:
        while True:
            if until_line and until_line in log.read_text().splitlines():
                break
            if process.poll() is not None:
                assert process.returncode == 0 and until_line is None, log.read_text()[-4000:]
                break
            assert time.monotonic() < deadline, f"timed out:\n{log.read_text()[-4000:]}"
            time.sleep(0.2)


def _kill(started) -> None:
    for process, _ in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)  # no clean shutdown, as when a job is preempted
        process.wait()


@pytest.mark.multiprocess
def test_two_processes_train_checkpoint_die_resume_and_match_one_process(train_run, tmp_path):
    _, single = train_run("decoder", "fsdp_tp")
    deadline = time.monotonic() + TIMEOUT_S
    worker = [str(WORKER), "{id}", "{n}", "{coordinator}", str(tmp_path)]
    first = _launch([[*worker, "first"]] * 2, tmp_path)
    try:
        _wait(first, deadline, until_line="SAVED")
    finally:
        _kill(first)
    second = _launch([[*worker, "resume"]] * 2, tmp_path)
    try:
        _wait(second, deadline)
    finally:
        _kill(second)

    before = json.loads((tmp_path / "losses_first.json").read_text())
    after = json.loads((tmp_path / "losses_resume.json").read_text())
    assert after["start"] == 3
    np.testing.assert_allclose(before["losses"] + after["losses"], single, rtol=1e-5)


CLI_OVERRIDES = ["train.warmup_steps=1", "train.log_every=1", "checkpoint.every=2", "checkpoint.async_save=false",
                 "train.eval_batches=0", "train.examples=0", "model.num_layers=1"]


@pytest.mark.multiprocess
def test_jaxlm_train_on_two_processes_resumes_on_one_under_another_strategy(tmp_path):
    """The real loop and loader end to end. Exact equality with one process is the test above:
    here the train loader gives each process its own records (by design), so a 2-process data
    stream differs from a 1-process one and only the mechanics are checked."""
    deadline = time.monotonic() + TIMEOUT_S
    workdir = tmp_path / "run"
    cli = ["-m", "jaxlm.cli", "train", "gpt2_tiny", *CLI_OVERRIDES, "train.steps=4", f"workdir={workdir}",
           "parallel.strategy=fsdp_tp", "parallel.tensor=2", "--no-progress",
           "--coordinator", "{coordinator}", "--num-processes", "{n}", "--process-id", "{id}"]
    started = _launch([cli] * 2, tmp_path)
    try:
        _wait(started, deadline)
    finally:
        _kill(started)
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [2, 4]
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    logged = {row["step"]: row["loss"] for row in rows if row["split"] == "train"}
    assert len(rows) == len(logged) and {2, 3, 4} <= set(logged)  # one row per step: only process 0 writes
    global_tokens = 16 * 64  # gpt2_tiny's data.batch_size x data.seq_length, over both processes
    for row in rows:
        np.testing.assert_allclose(row["tokens_per_s"] * row["step_time_s"], global_tokens, rtol=1e-6)

    # this process: 8 devices under dp picks up the 2-process fsdp_tp checkpoint of step 4
    cfg = load_config("gpt2_tiny", [*CLI_OVERRIDES, "train.steps=6", f"workdir={workdir}"])
    resumed = train(cfg, progress=False, console=lambda _: None)
    assert sorted(resumed.losses) == [5, 6]
    assert resumed.losses[5] < logged[2]  # it continued from the trained state, not from scratch
