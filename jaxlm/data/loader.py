"""The loader: deterministic, resumable, per-process batches with a background prefetch thread.

'train', for one process p of P (records R, window size W = WINDOW_RECORDS), forever:
- epoch e: `order_e` = a permutation of range(len(R)) drawn from (seed, e); process p owns
  `order_e[p::P]` (the processes' slices are disjoint and together cover R) and reads only those.
- its records are cut into windows of W; window w is turned into examples by the objective's
  builder with a generator seeded by (seed, e, w, p, P), so every example is a pure function of
  (seed, e, w, p, P) and the records.
- examples stream into batches of `batch_size` (= data.batch_size // P) rows; a batch may span
  windows and epochs.

'validation', one pass: every process builds the same example stream (records in order, windows
seeded by (seed, 0, w)) and cuts it into global batches of batch_size · P rows, of which process p
keeps rows [p · batch_size, (p + 1) · batch_size): the slice `jax.make_array_from_process_local_data`
expects from it. So all processes yield the same number of batches (no process waits in a
collective for another that ran out) and the metrics do not depend on P; the price is that each
process reads the whole (small) validation split. The last global batch is filled up with the
pass's first examples, so every row is a real example and even a tiny split gives one batch.

State after each batch: {'epoch', 'window', 'offset', 'batches', 'process_index', 'process_count'}
(JSON). Restoring regenerates one window and skips `offset` examples. A 'train' state saved by
another process (or for another process count) cannot carry this process's position, so it is
replayed from the start by skipping `batches` batches: exact, but slower.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import queue
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from jaxlm.errors import JaxlmError

WINDOW_RECORDS = 64
_END = object()
_OPEN: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_loaders() -> None:
    """Stop prefetch threads before the interpreter tears down (a daemon thread caught inside the
    tokenizer's C++ code at exit aborts the process)."""
    for loader in list(_OPEN):
        loader.close()


class Loader:
    """Iterator of numpy batch dicts; `.state()` / `.restore(state)` for exact resumption.
    `tokenizer` is set by `make_loader` (the one that tokenized the batches)."""

    tokenizer = None

    def __init__(
        self, records: Sequence, build: Callable, *, batch_size: int, seed: int, split: str,
        process_index: int = 0, process_count: int = 1, prefetch: int = 2, state: dict | None = None,
    ):
        if not 0 <= process_index < process_count:
            raise JaxlmError(f"process_index {process_index} is not in [0, {process_count})")
        if split == "train" and len(records) < process_count:
            raise JaxlmError(f"data: {len(records)} {split} records cannot be shared by {process_count} processes")
        self.records, self.build, self.batch_size, self.seed = records, build, batch_size, seed
        self.split, self.process_index, self.process_count, self.prefetch = (
            split, process_index, process_count, prefetch
        )
        self._thread: threading.Thread | None = None
        _OPEN.add(self)
        self.restore(state or self.initial_state())

    def initial_state(self) -> dict:
        return {"epoch": 0, "window": 0, "offset": 0, "batches": 0,
                "process_index": self.process_index, "process_count": self.process_count}

    def state(self) -> dict:
        """Position after the last batch returned by `next` (JSON-serialisable)."""
        return dict(self._state)

    def restore(self, state: dict) -> None:
        """Continue from `state` (from `.state()` of a loader with the same config)."""
        missing = {"epoch", "window", "offset", "batches"} - set(state)
        if missing:
            raise JaxlmError(f"loader state lacks {', '.join(sorted(missing))}; pass a dict from Loader.state()")
        self.close()
        same_slice = not self.training or state.get("process_index") == self.process_index
        own = same_slice and state.get("process_count") == self.process_count
        start = {**state, "process_index": self.process_index, "process_count": self.process_count}
        self._state = start
        self._queue: queue.Queue = queue.Queue(maxsize=self.prefetch)
        self._stop = threading.Event()
        stream = self._batches(start) if own else self._replay(int(state["batches"]))
        self._thread = threading.Thread(target=self._produce, args=(stream, self._queue, self._stop), daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the prefetch thread."""
        if getattr(self, "_thread", None) is not None:
            self._stop.set()
            while self._thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    self._queue.get(timeout=0.05)
            self._thread = None

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)
            raise StopIteration
        if isinstance(item, BaseException):
            self._queue.put(item)
            raise item
        batch, position = item
        self._state = {**position, "process_index": self.process_index, "process_count": self.process_count}
        return batch

    def __del__(self):
        self.close()

    @staticmethod
    def _produce(stream: Iterator, out: queue.Queue, stop: threading.Event) -> None:
        def put(item) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    pass
            return False

        try:
            for item in stream:
                if not put(item):
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer thread, raised there
            put(error)

    @property
    def training(self) -> bool:
        return self.split == "train"

    def process_order(self, epoch: int) -> np.ndarray:
        """Indices of the records this process reads in `epoch`, in reading order."""
        if not self.training:
            return np.arange(len(self.records))
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.records))
        return order[self.process_index :: self.process_count]

    def _window_rng(self, epoch: int, window: int) -> np.random.Generator:
        if not self.training:
            return np.random.default_rng([self.seed, epoch, window])
        return np.random.default_rng([self.seed, epoch, window, self.process_index, self.process_count])

    def _examples(self, start: dict) -> Iterator[tuple[dict, dict]]:
        """(example, position after it) from `start`, forever for 'train', one epoch for 'validation'."""
        epoch, window, offset = start["epoch"], start["window"], start["offset"]
        while True:
            order = self.process_order(epoch)
            produced = False
            for w in range(window, -(-len(order) // WINDOW_RECORDS)):
                ids = order[w * WINDOW_RECORDS : (w + 1) * WINDOW_RECORDS]
                examples = self.build([self.records[int(i)] for i in ids], self._window_rng(epoch, w))
                produced = produced or bool(examples)
                for k in range(offset, len(examples)):
                    yield examples[k], {"epoch": epoch, "window": w, "offset": k + 1}
                offset = 0
            if not self.training:
                return
            if not produced and window == 0:
                raise JaxlmError("data: an epoch of the train split produced no examples; the documents are empty")
            epoch, window = epoch + 1, 0

    def _batches(self, start: dict) -> Iterator[tuple[dict, dict]]:
        size = self.batch_size if self.training else self.batch_size * self.process_count
        rows, batches, position = [], int(start["batches"]), start
        for example, position in self._examples(start):
            rows.append(example)
            if len(rows) == size:
                batches += 1
                yield self._local_batch(rows), {**position, "batches": batches}
                rows = []
        if rows:  # only a validation pass ends: fill its last batch with the pass's first examples
            first = [example for example, _ in itertools.islice(self._examples(self.initial_state()), size)]
            rows += list(itertools.islice(itertools.cycle(first), size - len(rows)))
            yield self._local_batch(rows), {**position, "batches": batches + 1}

    def _local_batch(self, rows: list[dict]) -> dict[str, np.ndarray]:
        if not self.training:
            rows = rows[self.process_index * self.batch_size : (self.process_index + 1) * self.batch_size]
        return {key: np.stack([row[key] for row in rows]) for key in rows[0]}

    def _replay(self, batches: int) -> Iterator[tuple[dict, dict]]:
        stream = self._batches(self.initial_state())
        for _ in range(batches):
            next(stream)
        yield from stream
