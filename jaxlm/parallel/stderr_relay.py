"""One line instead of the distributed runtime's abort report, in a multi-process run.

When process 0 (the coordinator: it holds the runtime's coordination service) dies, the runtime
client of every other process ends that process at once from C++: a `F... client.h:..]
Terminating process because the JAX distributed service detected fatal errors ...` line, a C++
stack trace, then SIGABRT (exit code 134). JAX has no hook to replace it (the client's
`missed_heartbeat_callback` cannot take a Python function: the runtime dies of std::bad_cast
calling it), so a multi-process run sends its stderr through a relay process (this file run as a
script, standard library only) that copies it unchanged except for the runtime's report:

    runtime lines announcing the failure    held up to HOLD_S: written if nothing else follows,
    (the coordination agent's and the       dropped if the abort report does
    preemption-sync manager's W/E lines)
    the abort report (and all after it)     one `error:` line naming the runtime's status and
                                            the fix (a process that could not join the run: to
                                            check the coordinator); the stack trace is not written

The process still ends with the runtime's SIGABRT (134); the relay only replaces what it prints.
It lives in its own session (a Ctrl-C or a scheduler's signal to the process group does not end
it) and stops at end of input, when every holder of the pipe has exited. `stop()` (at exit, and
before an `os._exit`) puts the original stderr back and waits, up to STOP_S, for the relay to
write what it still holds, so a log read right after the process ended is complete.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import select
import signal
import sys
import time

MARKER = b"Terminating process because the JAX distributed service detected fatal errors"
# glog's prefix: severity, MMDD hh:mm:ss.micro, thread id, file:line]
_GLOG = re.compile(rb"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ ([\w.]+):\d+\]")
_ANNOUNCERS = (b"coordination_service_agent.cc", b"preemption_sync_manager.cc")
_MAYBE_GLOG = re.compile(rb"^[IWEF](?:\d|$)")  # the start of what may be a glog line: wait for its end
HOLD_S = 2.0
STOP_S = 2.0

_relay: tuple[int, int] | None = None  # (relay pid, duplicate of the original stderr)


def start() -> None:
    """Send this process's stderr (fd 2) through a relay process, once; unchanged if it cannot start."""
    global _relay
    if _relay is not None:
        return
    sys.stderr.flush()
    opened: list[int] = []
    try:
        read_end, write_end = os.pipe()
        opened += [read_end, write_end]
        original = os.dup(2)
        opened.append(original)
        pid = os.posix_spawn(sys.executable, [sys.executable, "-I", "-S", __file__], os.environ, setsid=True,
                             file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0), (os.POSIX_SPAWN_DUP2, original, 1),
                                           (os.POSIX_SPAWN_DUP2, original, 2)])
    except (OSError, NotImplementedError):  # no stderr, interpreter, process or setsid: the report stays as it is
        for fd in opened:
            os.close(fd)
        return
    os.dup2(write_end, 2)
    os.close(write_end)
    os.close(read_end)
    _relay = (pid, original)
    atexit.register(stop)


def stop() -> None:
    """Put the original stderr back and give the relay up to STOP_S to write what it holds."""
    global _relay
    if _relay is None:
        return
    pid, original = _relay
    _relay = None
    with contextlib.suppress(OSError):  # a stderr that can no longer be written: nothing to flush into
        sys.stderr.flush()
    os.dup2(original, 2)  # closes this process's end of the pipe: the relay reads its end of input
    os.close(original)
    deadline = time.monotonic() + STOP_S
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)


def error_line(report: bytes) -> bytes:
    """The one line written instead of the runtime's abort report `report` (its lines before the
    stack trace): a process that never joined the run (its RegisterTask call failed) is told to
    check the coordinator; one that had joined, that a process of the run died."""
    status = report.partition(b"absl::Status: ")[2].split(b"\n")[0].split(b". ")[0].strip()[:160] or b"fatal error"
    if b"CoordinationService/RegisterTask" in report:
        return (b"error: could not join the run: the coordinator did not answer (" + status + b"); check that "
                b"process 0 is running at the address every process was given, with the same process count\n")
    if b"coordination service" in status:
        who = b"process 0 (the coordinator, which holds the runtime's coordination service) has probably died"
    else:
        who = b"another process of the run has probably died"
    return (b"error: the distributed runtime ended this process (" + status + b"): " + who
            + b", see its log; restart all processes to resume from the newest checkpoint\n")


class Relay:
    """The filter itself: `feed(bytes)` and `tick()` return what to write now; `end()` what is left."""

    def __init__(self, hold_s: float = HOLD_S) -> None:
        self.hold_s = hold_s
        self.partial = b""  # the start of a line that may be a glog line
        self.held: list[bytes] = []
        self.held_since = 0.0
        self.report: list[bytes] | None = None  # the abort report's lines, until its stack trace begins
        self.aborted = False  # the one line is written: nothing more is

    def feed(self, chunk: bytes, now: float | None = None) -> bytes:
        if self.aborted:
            return b""
        now = time.monotonic() if now is None else now
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        out = b"".join(self._line(line + b"\n", now) for line in lines)
        if self.aborted:
            self.partial = b""
        elif self.partial and self.report is None and not _MAYBE_GLOG.match(self.partial):
            out, self.partial = out + self._release() + self.partial, b""  # a progress bar's update, say
        return out + self.tick(now)  # output that keeps coming keeps no line held past HOLD_S

    def tick(self, now: float | None = None) -> bytes:
        now = time.monotonic() if now is None else now
        return self._release() if self.held and now - self.held_since >= self.hold_s else b""

    def timeout(self, now: float) -> float | None:
        return max(0.0, self.held_since + self.hold_s - now) if self.held else None

    def end(self) -> bytes:
        if self.report is not None and not self.aborted:
            return self._abort([*self.report, self.partial])
        return b"" if self.aborted else self._release() + self.partial

    def _line(self, line: bytes, now: float) -> bytes:
        if self.aborted:
            return b""
        if self.report is not None:
            if line.startswith((b"*** Check failure", b"    @ ")) or len(self.report) >= 20:
                return self._abort(self.report)
            self.report.append(line)
            return b""
        if MARKER in line:
            self.held, self.report = [], [line]
            return b""
        glog = _GLOG.match(line)
        if (glog and glog.group(1) in _ANNOUNCERS and line[:1] in b"WE") or (self.held and not glog):
            if not self.held:
                self.held_since = now
            self.held.append(line)  # an announcing line, or one continuing the lines held
            return b""
        return self._release() + line

    def _abort(self, report: list[bytes]) -> bytes:
        self.aborted = True
        return error_line(b"".join(report))

    def _release(self) -> bytes:
        out, self.held = b"".join(self.held), []
        return out


def _run() -> None:
    """The relay process: stdin → stdout through `Relay` until end of input."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # it ends when its input does, never before the process it serves
    relay = Relay()

    def write(data: bytes) -> None:
        while data:
            data = data[os.write(1, data):]

    while True:
        ready, _, _ = select.select([0], [], [], relay.timeout(time.monotonic()))
        if not ready:
            write(relay.tick())
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:
            write(relay.end())
            return
        write(relay.feed(chunk))


if __name__ == "__main__":
    _run()
