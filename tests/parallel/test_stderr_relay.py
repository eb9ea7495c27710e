"""The stderr relay of multi-process runs: output passes unchanged (partial progress-bar updates
at once), the runtime's abort report becomes one line, and the lines announcing it are dropped
with it but written when no report follows. The real relay process is checked through a child
process that aborts as the runtime does, and one that exits normally into a file."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

from jaxlm.parallel import stderr_relay
from jaxlm.parallel.stderr_relay import Relay

ANNOUNCE = (b"W1204 21:00:50.057847   26022 preemption_sync_manager.cc:147] Failed to retrieve preemption notice\n"
            b"Additional GRPC error information from remote target coordination_service:\n"
            b"E1204 21:00:50.057918   26022 coordination_service_agent.cc:289] Polled an error\n")
REPORT = (b"F1204 21:00:50.057923   26022 client.h:80] " + stderr_relay.MARKER + b". This most likely indicates that "
          b"another task died. absl::Status: UNAVAILABLE: Failed to send RPC to coordination service. Either the "
          b"leader task was preempted\n"
          b"*** Check failure stack trace: ***\n"
          b"    @     0x7fb510758634  absl::log_internal::LogMessage::SendToLog()\n")


def test_ordinary_output_passes_unchanged_and_a_progress_update_at_once():
    relay = Relay()
    text = b"train step 1: loss 4.2\nwarning: something\n"
    assert relay.feed(text) == text
    assert relay.feed(b"\r 50%|#####     | 5/10") == b"\r 50%|#####     | 5/10"  # no newline: not held
    assert relay.feed(b"I1204 21:00:50.1 1 other.cc:1] info\nEvaluating\n") == (
        b"I1204 21:00:50.1 1 other.cc:1] info\nEvaluating\n")
    assert relay.end() == b""


def test_the_abort_report_becomes_one_line_and_the_lines_announcing_it_are_dropped():
    relay = Relay()
    assert relay.feed(b"train step 4: loss 3.1\n" + ANNOUNCE, now=0.0) == b"train step 4: loss 3.1\n"
    out = relay.feed(REPORT[:40], now=0.1) + relay.feed(REPORT[40:] + b"    @ more frames\n", now=0.2)
    assert out.count(b"\n") == 1 and out.startswith(b"error: the distributed runtime ended this process "
                                                    b"(UNAVAILABLE: Failed to send RPC to coordination service)")
    assert b"process 0 (the coordinator" in out and b"restart all processes" in out
    assert relay.feed(b"anything after the report\n") + relay.tick(now=9.0) + relay.end() == b""


def test_announcing_lines_are_written_when_no_report_follows():
    relay = Relay(hold_s=2.0)
    assert relay.feed(ANNOUNCE, now=0.0) == b""
    assert relay.tick(now=1.0) == b""
    assert relay.tick(now=2.0) == ANNOUNCE
    assert relay.feed(ANNOUNCE, now=3.0) == b""
    assert relay.feed(b"train step 5: loss 3.0\n", now=3.1) == b""  # continuing the held lines: kept in order
    assert relay.feed(b"I1204 21:00:51.0 1 other.cc:1] next\n", now=3.2) == (
        ANNOUNCE + b"train step 5: loss 3.0\nI1204 21:00:51.0 1 other.cc:1] next\n")
    assert relay.feed(ANNOUNCE, now=4.0) == b""
    assert relay.feed(b"step 6\n", now=5.0) == b""  # output that keeps coming: released once the hold is over
    assert relay.feed(b"step 7\n", now=6.0) == ANNOUNCE + b"step 6\nstep 7\n"
    assert relay.feed(ANNOUNCE, now=7.0) == b"" and relay.end() == ANNOUNCE


def test_a_process_that_never_joined_is_told_to_check_the_coordinator_even_if_the_trace_never_comes():
    relay = Relay()
    report = (b"F1204 22:02:49.056822   17327 client.h:80] " + stderr_relay.MARKER + b". This most likely indicates "
              b"that another task died. absl::Status: DEADLINE_EXCEEDED: Deadline Exceeded\n\n"
              b"RPC: /xla.coordination.CoordinationService/RegisterTask\n")
    assert relay.feed(report) == b""  # the report is read to its end before the line is chosen
    (line,) = relay.end().splitlines()  # the process died before its stack trace
    assert line.startswith(b"error: could not join the run: the coordinator did not answer (DEADLINE_EXCEEDED: "
                           b"Deadline Exceeded); check that process 0 is running")


def test_a_report_that_names_no_coordination_service_blames_another_process():
    line = stderr_relay.error_line(b"F0 x] " + stderr_relay.MARKER + b". absl::Status: INTERNAL: task 3 heartbeat "
                                   b"timeout. Check logs\n")
    assert b"(INTERNAL: task 3 heartbeat timeout)" in line and b"another process of the run" in line


def _child(tmp_path: pathlib.Path, body: str, stderr) -> subprocess.CompletedProcess:
    """A Python child that loads the relay module from its file (no jax), starts it, prints the
    relay's pid and runs `body` (lines without indentation)."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(f"""\
        import importlib.util, os, sys
        spec = importlib.util.spec_from_file_location("relay", {stderr_relay.__file__!r})
        relay = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(relay)
        relay.start()
        print(relay._relay[0], flush=True)
    """) + body)
    return subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=stderr, timeout=60)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_process_aborted_by_the_runtime_prints_one_line_through_the_relay(tmp_path):
    body = f"print('before the abort', file=sys.stderr, flush=True)\nos.write(2, {ANNOUNCE!r})\n" \
           f"os.write(2, {REPORT!r})\nos.abort()\n"
    result = _child(tmp_path, body, subprocess.PIPE)
    assert result.returncode == -6
    lines = result.stderr.decode().splitlines()
    assert lines[0] == "before the abort" and len(lines) == 2 and lines[1].startswith("error: the distributed runtime")


def test_every_line_is_written_and_the_relay_gone_when_the_process_has_ended(tmp_path):
    lines = ("for index in range(20000):\n    print(f'line {index}', file=sys.stderr)\n"
             "os.write(2, b'the last line\\n')\n")
    for ending, code in (("", 0), ("relay.stop(); os._exit(75)\n", 75)):  # a normal exit; the peer-lost exit
        log = tmp_path / f"log{code}"
        with log.open("wb") as out:
            result = _child(tmp_path, lines + ending, out)
        text = log.read_text()  # read as soon as the process ended: the relay must be done by then
        assert result.returncode == code and _gone(int(result.stdout))
        assert text.splitlines()[-1] == "the last line" and text.count("\n") == 20001


def test_a_process_that_cannot_reach_its_coordinator_ends_with_one_line(tmp_path):
    """The real runtime, through `initialize_distributed`'s join: process 1 of 2, nobody at the address."""
    probe = ("from jaxlm.parallel.distributed import _join\n"
             "_join('unused', 10, coordinator_address='127.0.0.1:1', num_processes=2, process_id=1, "
             "initialization_timeout=2)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=120,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    lines = result.stderr.decode().splitlines()
    assert result.returncode == -6 and len(lines) == 1, result.stderr.decode()[-2000:]
    assert lines[0].startswith("error: could not join the run: the coordinator did not answer (DEADLINE_EXCEEDED")
