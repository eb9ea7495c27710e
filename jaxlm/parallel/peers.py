"""What the processes of a run do together: agree on a value, and notice a peer that died.

    if all_processes(read_ok): ...                  # every process gets the same answer

`max_over_processes` is a tiny all-gather (no communication in a single-process run); every
process must call it at the same point.

A peer that dies makes the others fail fast inside a collective (gloo sees the closed
connection: the train loop turns that into `PeerLostError`), or wait in a collective or a
barrier of the distributed runtime until its heartbeat timeout, after which the runtime aborts
the process with a C++ stack trace. `watch_peers(client, timeout)` (called by
`initialize_distributed`) starts a liveness thread instead of timing any one wait, so a long
compile or checkpoint save on a healthy run is never mistaken for a death:

    every BEAT_S:  store[jaxlm_alive/<me>] = beat count          (the runtime's key-value store)
                   read every peer's count; a peer whose count has not moved for `timeout` s,
                   or a store (held by process 0, the coordinator) that has not answered for
                   `timeout` s, ends this process with one line and `PEER_LOST_EXIT_CODE`

A process that ends on purpose writes `done`, and its peers stop expecting its beats. A
watchdog that was itself kept from running (a long call holding the GIL) starts its peers'
windows afresh instead of blaming them for its own silence.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time

import jax
import numpy as np

from jaxlm.errors import PEER_LOST_EXIT_CODE, PeerLostError
from jaxlm.parallel import stderr_relay

PEER_TIMEOUT_S = 120
BEAT_S = 0.5
_KEY = "jaxlm_alive/"
_DONE = "done"
_liveness: _Liveness | None = None


def max_over_processes(value: int) -> int:
    """The largest `value` passed by any process of the run."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

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


class _Liveness:
    """The beat-and-check loop of one process (see the module docstring)."""

    def __init__(self, client, process_id: int, process_count: int, timeout_s: float):
        self.client, self.me, self.timeout_s = client, process_id, timeout_s
        self.peers = [p for p in range(process_count) if p != process_id]
        self.stopped = threading.Event()

    def run(self) -> None:
        now = time.monotonic()
        seen = {peer: (None, now) for peer in self.peers}  # peer -> (last count, when it last moved)
        store_answered, last_loop, beat = now, now, 0
        while not self.stopped.wait(BEAT_S):
            now = time.monotonic()
            if now - last_loop > max(5 * BEAT_S, self.timeout_s / 4):  # this thread was starved, not the peers
                seen = {peer: (count, now) for peer, (count, _) in seen.items()}
                store_answered = now
            last_loop, beat = now, beat + 1
            try:
                self.client.key_value_set(f"{_KEY}{self.me}", str(beat), allow_overwrite=True)
                counts = dict(self.client.key_value_dir_get(_KEY))
                store_answered = now
            except Exception:  # the store lives in process 0: no answer is its death, once it lasts
                if now - store_answered > self.timeout_s:
                    self._end("no answer from process 0 (the coordinator)")
                continue
            for peer in self.peers:
                count = counts.get(f"{_KEY}{peer}")
                if count == _DONE:
                    seen.pop(peer, None)
                elif peer in seen:
                    previous, moved = seen[peer]
                    seen[peer] = (count, now) if count != previous else (previous, moved)
                    if now - seen[peer][1] > self.timeout_s:
                        self._end(f"no sign of life from process {peer}")

    def stop(self) -> None:
        """End this process's watch on purpose, telling the peers not to wait for its beats."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        with contextlib.suppress(Exception):  # the coordinator has already gone: nobody is left to tell
            self.client.key_value_set(f"{_KEY}{self.me}", _DONE, allow_overwrite=True)

    def _end(self, what: str) -> None:
        if self.stopped.is_set():
            return
        exit_peer_lost(f"{what} for {self.timeout_s:g} s: another process of the run has probably died, see its "
                       "log; restart all processes to resume from the newest checkpoint (--peer-timeout sets the wait)")


def exit_peer_lost(message: str) -> None:
    """End this process at once with `error: message` and PEER_LOST_EXIT_CODE: a normal exit would
    wait for the dead peer at the runtime's shutdown barrier."""
    os.write(2, f"error: {message}\n".encode())  # os.write: this may run beside the main thread's prints
    with contextlib.suppress(Exception):  # a stdout that can no longer be written: nothing to flush into
        sys.stdout.flush()
    stderr_relay.stop()
    os._exit(PEER_LOST_EXIT_CODE)


def watch_peers(client, timeout_s: float) -> None:
    """Start this process's liveness thread (once); it stops, telling the peers, when the process exits."""
    global _liveness
    if jax.process_count() == 1 or _liveness is not None:
        return
    _liveness = _Liveness(client, jax.process_index(), jax.process_count(), timeout_s)
    atexit.register(_liveness.stop)
    threading.Thread(target=_liveness.run, name="jaxlm-peer-liveness", daemon=True).start()
