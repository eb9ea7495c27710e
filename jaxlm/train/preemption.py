"""Stopping a run cleanly: signals, the stop decision shared by all processes, exit codes.

`jaxlm train` holds SIGTERM (what schedulers send before preempting) and SIGINT (Ctrl-C) from
its start until its last checkpoint is committed. The first signal asks the loop to stop after
the current step: it saves that step and exits with 128 + the signal number, 143 for SIGTERM
and 130 for SIGINT, so a scheduler tells a preempted run (requeue it) from a finished one (0).
A second signal only prints that the stop is under way; the process still saves and exits with
the same code, without a traceback.

In a multi-process run a signal may reach one process only. Every `loop.AGREE_EVERY` steps every
process passes the signal it has seen (0: none) to `parallel.max_over_processes`, so all of them
stop after the same step, save the same checkpoint and exit with the same code.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any

from jaxlm.parallel import max_over_processes

HANDLED = (signal.SIGTERM, signal.SIGINT)


def exit_code(signal_name: str) -> int:
    """128 + the signal's number for 'SIGTERM' / 'SIGINT' (the shell's convention), else 0."""
    return 128 + signal.Signals[signal_name].value if signal_name in signal.Signals.__members__ else 0


class StopSignals:
    """Context manager: SIGTERM/SIGINT are recorded instead of ending the process; the previous
    handlers come back on exit. `agreed()` is the stop decision of all processes."""

    def __init__(self) -> None:
        self.received = 0  # the number of the first signal received, 0 before any
        self._previous: dict[int, Any] = {}

    def handle(self, signum: int, frame: Any = None) -> None:
        if self.received:
            # os.write, not print: a handler that prints while the main thread prints raises
            os.write(2, f"\n{signal.Signals(signum).name} again: already stopping; the step and its checkpoint are "
                     "finishing, then the run exits\n".encode())
            return
        self.received = signum

    def agreed(self) -> str:
        """The name of the signal that stops the run ('' to go on); every process must call this
        at the same point and gets the same answer."""
        signum = max_over_processes(self.received)
        return signal.Signals(signum).name if signum else ""

    def __enter__(self) -> StopSignals:
        for sig in HANDLED:
            with contextlib.suppress(ValueError):  # not the main thread: signals stay as they are
                self._previous[sig] = signal.signal(sig, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
