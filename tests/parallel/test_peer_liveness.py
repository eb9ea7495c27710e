"""The liveness watch of a multi-process run, against an in-memory key-value store: a peer that
goes on beating is never taken for dead however long its step takes, a silent one is, once
`timeout` has passed, and a peer that ended on purpose is not waited for."""

from __future__ import annotations

import contextlib
import threading
import time

from jaxlm.parallel import peers


class Store:
    """The runtime client's key-value calls the watch uses; `beating` peers beat by themselves."""

    def __init__(self, beating: tuple[int, ...] = (), done: tuple[int, ...] = ()):
        self.values = {f"{peers._KEY}{p}": peers._DONE for p in done}
        self.beating, self.beats = beating, 0

    def key_value_set(self, key: str, value: str, allow_overwrite: bool = False) -> None:
        self.values[key] = value

    def key_value_dir_get(self, prefix: str) -> list[tuple[str, str]]:
        self.beats += 1
        for peer in self.beating:
            self.values[f"{prefix}{peer}"] = str(self.beats)
        return list(self.values.items())


def watch(monkeypatch, store: Store, process_count: int, seconds: float, timeout_s: float = 0.3) -> list[str]:
    """Run process 0's watch for `seconds`; the lines it would have ended the process with."""
    ended: list[str] = []
    monkeypatch.setattr(peers, "BEAT_S", 0.02)
    liveness = peers._Liveness(store, 0, process_count, timeout_s)

    def end(what: str) -> None:  # in place of printing the line and exiting the process
        ended.append(what)
        raise SystemExit  # the real one never returns: the process exits

    def run() -> None:
        with contextlib.suppress(SystemExit):  # the thread ends where the process would have
            liveness.run()

    monkeypatch.setattr(liveness, "_end", end)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(seconds)
    liveness.stop()
    thread.join(timeout=5)
    assert store.values[f"{peers._KEY}0"] == peers._DONE  # the peers are told this process ended on purpose
    return ended


def test_a_peer_that_keeps_beating_is_never_taken_for_dead(monkeypatch):
    assert watch(monkeypatch, Store(beating=(1, 2)), 3, seconds=1.0) == []


def test_a_silent_peer_ends_the_process_naming_it_after_the_timeout(monkeypatch):
    started = time.monotonic()
    ended = watch(monkeypatch, Store(beating=(1,)), 3, seconds=1.0)
    assert ended == ["no sign of life from process 2"]
    assert time.monotonic() - started > 0.3


def test_a_peer_that_ended_on_purpose_is_not_waited_for(monkeypatch):
    assert watch(monkeypatch, Store(beating=(1,), done=(2,)), 3, seconds=1.0) == []


def test_a_store_that_stops_answering_is_the_coordinators_death(monkeypatch):
    store = Store(beating=(1,))
    monkeypatch.setattr(store, "key_value_dir_get", lambda prefix: (_ for _ in ()).throw(RuntimeError("gone")))
    assert watch(monkeypatch, store, 2, seconds=1.0) == ["no answer from process 0 (the coordinator)"]


def test_a_watch_kept_from_running_gives_its_peers_a_fresh_window(monkeypatch):
    """The watch's own thread was stalled (a call holding the GIL): a silent interval of its own
    is not the peers' silence."""
    store = Store(beating=(1,))
    real = store.key_value_dir_get
    stalled = {"once": False}

    def stall_once(prefix):
        if not stalled["once"]:
            stalled["once"] = True
            time.sleep(0.8)  # longer than the timeout
        return real(prefix)

    monkeypatch.setattr(store, "key_value_dir_get", stall_once)
    assert watch(monkeypatch, store, 2, seconds=1.2) == []
