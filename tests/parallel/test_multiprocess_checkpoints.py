"""Two `jaxlm train` processes × 4 CPU devices (gloo) as two hosts: a SIGTERM to one stops both
after the same step with the same checkpoint and exit code, each process's loader position is
saved as its own and restored without replaying its stream, and a process whose peer dies ends
with one line and exit code 75 within the peer timeout."""

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
from jaxlm.data import load_tokenizer, open_records
from jaxlm.objectives import make_loader

WORKER = pathlib.Path(__file__).with_name("checkpoint_worker.py")
TINY = ["model.d_model=32", "model.d_ff=64", "model.num_heads=2", "model.num_layers=1", "data.seq_length=32",
        "data.batch_size=8", "train.log_every=1", "train.eval_batches=0", "train.examples=0", "checkpoint.every=100"]
TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(workdir: pathlib.Path, phase: str, overrides: list[str], flags: tuple[str, ...] = ()) -> list:
    """Two worker processes running `jaxlm train gpt2_tiny`; [(process, log path, reads path)]."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    coordinator = f"127.0.0.1:{_free_port()}"
    started = []
    for index in range(2):
        log, reads = workdir.parent / f"{phase}{index}.log", workdir.parent / f"{phase}{index}.reads.json"
        command = [sys.executable, str(WORKER), str(reads), "train", "gpt2_tiny", *TINY, *overrides,
                   f"workdir={workdir}", "--no-progress", "--coordinator", coordinator, "--num-processes", "2",
                   "--process-id", str(index), *flags]
        with log.open("w") as out:
            started.append((subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT), log, reads))
    return started


def _wait_for_line(log: pathlib.Path, text: str, processes: list) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while text not in log.read_text():
        assert all(p.poll() is None for p, _, _ in processes), log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"timed out waiting for {text!r}:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def _finish(started: list, timeout: float = TIMEOUT_S) -> list[int]:
    codes = []
    for process, log, _ in started:
        try:
            codes.append(process.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"still running:\n{log.read_text()[-3000:]}")
    return codes


@pytest.fixture(scope="module")
def short_documents(tmp_path_factory):
    """A local text of short documents (many documents per step), prepared once
    here so the workers do not prepare it concurrently; overrides that select it."""
    path = tmp_path_factory.mktemp("text") / "documents.txt"
    rng = np.random.default_rng(0)
    words = ("the", "list", "returns", "a", "value", "of", "each", "module", "object", "class", "function", "holds")
    path.write_text("\n\n".join(" ".join(rng.choice(words, size=12)) + "." for _ in range(600)) + "\n")
    tokenizer = load_tokenizer(load_config("gpt2_tiny", TINY))  # the embedded corpus's, cached
    overrides = ["data.source=local", f"data.path={path}", f"data.tokenizer_path={tokenizer.path}"]
    open_records(load_config("gpt2_tiny", [*TINY, *overrides]).data, "train")
    return overrides


@pytest.mark.multiprocess
def test_sigterm_to_one_process_stops_both_at_one_step_and_each_resumes_its_own_stream(short_documents, tmp_path):
    workdir = tmp_path / "run"
    first = _start(workdir, "first", [*short_documents, "train.steps=1000"])
    try:
        _wait_for_line(first[0][1], "train step 12:", first)
        first[1][0].send_signal(signal.SIGTERM)  # process 1 only
        assert _finish(first) == [143, 143]
    finally:
        _finish(first)
    stopped = {int(log.read_text().split("stopped by SIGTERM after step ")[1].split(";")[0]) for _, log, _ in first}
    assert len(stopped) == 1, [log.read_text()[-2000:] for _, log, _ in first]
    step = stopped.pop()
    loader_item = workdir / "checkpoints" / str(step) / "loader"
    saved = [json.loads((loader_item / f"process_{i}-of-2.json").read_text()) for i in range(2)]
    cfg = load_config("gpt2_tiny", [*TINY, *short_documents])
    for index, state in enumerate(saved):  # each process's own position: where its own stream is after `step`
        reference = make_loader(cfg, "train", process_index=index, process_count=2)
        for _ in range(step):
            next(reference)
        assert state == reference.state()
        reference.close()

    second = _start(workdir, "second", [*short_documents, f"train.steps={step + 3}"])
    assert _finish(second) == [0, 0], second[0][1].read_text()[-3000:]
    assert f"resumed from {workdir / 'checkpoints' / str(step)}" in second[1][1].read_text()
    for (_, _, before), (_, _, after) in zip(first, second, strict=True):
        # a replay would read again every record read in the 40+ steps before the stop, and more
        assert json.loads(after.read_text())["reads"] < json.loads(before.read_text())["reads"]
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"] == list(range(1, step + 4))


@pytest.mark.multiprocess
@pytest.mark.parametrize("dead", [1, 0], ids=["a-peer", "the-coordinator"])
def test_a_process_whose_peer_dies_ends_with_one_line_within_the_peer_timeout(tmp_path, dead):
    """Process 1 dying: process 0's liveness watch ends it (exit 75) within the peer timeout.
    Process 0 dying: the runtime aborts process 1 at once (SIGABRT); the relay makes that one line."""
    started = _start(tmp_path / "run", "dead", ["train.steps=1000"], ("--peer-timeout", "10"))
    survivor = started[1 - dead]
    try:
        _wait_for_line(started[0][1], "train step 4:", started)
        started[dead][0].send_signal(signal.SIGKILL)
        begun = time.monotonic()
        code = survivor[0].wait(timeout=60)
        waited = time.monotonic() - begun
    finally:
        for process, _, _ in started:
            if process.poll() is None:
                process.kill()
        _finish(started)
    log = survivor[1].read_text()
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "has probably died" in errors[0], log[-3000:]
    assert "Traceback" not in log and "Check failure" not in log and waited < 10 + 5
    if dead == 1:
        assert code == 75 and "another process of the run has probably died" in errors[0]
    else:
        assert code == -signal.SIGABRT and "process 0 (the coordinator" in errors[0] and waited < 5
        assert "preemption_sync_manager" not in log and "Polled an error" not in log
