"""What the processes of a run do together: agree on a value, and notice a peer that died.

    if all_processes(read_ok): ...                  # every process gets the same answer
    with waiting_for_peers("a checkpoint save"):    # a wait that only a dead peer makes endless
        manager.save(...)

`max_over_processes` is a tiny all-gather (no communication in a single-process run); every
process must call it at the same point.

A peer that dies makes the others fail fast inside a collective (gloo sees the closed
connection: the train loop turns that into `PeerLostError`), or wait in a barrier of the
distributed runtime until its heartbeat timeout, after which the runtime aborts the process
with a C++ stack trace. `watch_peers(timeout)` (called by `initialize_distributed`) starts a
watchdog thread: a wait under `waiting_for_peers` that lasts `timeout` seconds ends the process
with one line and exit code `PEER_LOST_EXIT_CODE`, before the runtime's timeout.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

import jax
import numpy as np

from jaxlm.errors import PEER_LOST_EXIT_CODE, PeerLostError

PEER_TIMEOUT_S = 120
_watch: dict = {"timeout": None, "deadline": None, "what": ""}


def max_over_processes(value: int) -> int:
    """The largest `value` passed by any process of the run."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    with waiting_for_peers("the other processes to reach the same step"):
        return int(np.max(multihost_utils.process_allgather(np.int32(value))))


def all_processes(flag: bool) -> bool:
    """True when `flag` holds on every process (see `max_over_processes`)."""
    return max_over_processes(int(not flag)) == 0


def peer_lost(error: BaseException, doing: str) -> PeerLostError | None:
    """The one-line error to raise when `error` is the runtime failing an operation shared with the
    other processes (a `JaxRuntimeError` anywhere in its chain, in a multi-process run): the sign
    of a dead peer. None otherwise."""
    if jax.process_count() == 1:
        return None
    while not isinstance(error, jax.errors.JaxRuntimeError):
        error = error.__cause__ or error.__context__
        if error is None:
            return None
    first_line = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
    return PeerLostError(f"{doing} failed ({first_line}): another process of the run has probably died, see its log; "
                         "restart all processes to resume from the newest checkpoint")


@contextlib.contextmanager
def waiting_for_peers(what: str) -> Iterator[None]:
    """Mark a wait on the other processes; a no-op unless `watch_peers` runs."""
    if _watch["timeout"] is None:
        yield
        return
    previous = _watch["deadline"], _watch["what"]
    _watch["deadline"], _watch["what"] = time.monotonic() + _watch["timeout"], what
    try:
        yield
    finally:
        _watch["deadline"], _watch["what"] = previous


def watch_peers(timeout_s: int) -> None:
    """Start the watchdog thread (once per process)."""
    if _watch["timeout"] is not None:
        return
    _watch["timeout"] = timeout_s
    threading.Thread(target=_watchdog, name="jaxlm-peer-watchdog", daemon=True).start()


def _watchdog() -> None:
    while True:
        time.sleep(0.5)
        deadline = _watch["deadline"]
        if deadline is not None and time.monotonic() > deadline:
            line = (f"error: waited {_watch['timeout']} s for {_watch['what']} without an answer: another process "
                    "of the run has probably died, see its log; restart all processes to resume from the newest "
                    "checkpoint (--peer-timeout sets the wait)\n")
            os.write(2, line.encode())
            os._exit(PEER_LOST_EXIT_CODE)  # a normal exit would wait for the dead peer too
