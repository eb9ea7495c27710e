"""The loader: this process's batches from a grain pipeline, resumable from a small JSON state.

'train', process p of P, records R (a TFDS array_record data source or an in-memory list), seed s:

    grain.MapDataset.source(R).map_with_index(number)   (source index, record), random access
      .seed(s).shuffle().repeat()           epoch e visits R in the order of a Feistel index shuffle
                                            seeded by (s, e): nothing is materialised, so memory
                                            does not grow with len(R)
      .random_map(examples.from_record)     its rng depends on (s, stream position) only, so the
                                            item at a position is the same whatever P
      [p::P]                                this process's share: stream positions ≡ p (mod P);
                                            the shares are disjoint and together cover the stream
      .to_iter_dataset(READ_THREADS)        records read and turned into items by worker threads
      → filter(None) → examples.from_stream   this process's items in order → example rows
      .batch(data.batch_size // P)
      → ThreadPrefetchIterDataset           `data.prefetch` batches prepared in a background thread,
        or .mp_prefetch(data.workers)       or by that many worker processes, each building whole
                                            batches from every workers-th item of this process's
                                            share (round robin; so the batches depend on `workers`)

'validation', one pass: every process builds the same stream (records in order, no shuffle) and
cuts it into global batches of batch_size · P rows, of which process p keeps rows
[p · batch_size, (p + 1) · batch_size): the slice `jax.make_array_from_process_local_data`
expects. So every process yields the same number of batches (none waits in a collective for one
that ran out) and the metrics do not depend on P; the price is that each process reads the whole
validation split. The last global batch is filled up by repeating its own rows, so every row is a
real example and even a tiny split gives one batch.

An objective enters through `Examples`: `from_record((index, record), rng)` gives one item (or
None when the record gives nothing); `from_stream(items)` turns this process's items into example
rows (flatten, pack, concatenate-then-split). Every stage is a grain dataset whose iterator has a
state, so the loader's state is grain's (a few integers per stage) plus the number of batches and
the process (and number of workers) it belongs to. A 'train' state of another process, process
count or number of workers cannot carry this process's position, so it is replayed from the start
by skipping `batches` batches (as is a state without 'grain', from the loader before grain).
"""

from __future__ import annotations

import atexit
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import grain
import numpy as np

from jaxlm.errors import JaxlmError

READ_THREADS = 2  # reading overlaps (array_record reads release the GIL); Python example building does not
READ_BUFFER = 16
_OPEN: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_loaders() -> None:
    """Stop prefetch threads before the interpreter tears down (grain's thread would otherwise be
    stopped from a finaliser while the interpreter is half gone)."""
    for loader in list(_OPEN):
        loader.close()


class Examples:
    """How an objective turns records into example rows: two grain stages (one subclass per objective)."""

    def from_record(self, item: tuple[int, Any], rng: np.random.Generator) -> Any:
        """(source index, record) → one item, or None when the record gives nothing. Runs in
        worker threads on random access; `rng` is fixed by the item's stream position."""
        raise NotImplementedError

    def from_stream(self, items: grain.IterDataset) -> grain.IterDataset:
        """This process's items, in order → example rows (dicts of numpy arrays without the batch axis)."""
        return items


class _Flatten(grain.experimental.FlatMapTransform):
    def flat_map(self, element: Sequence) -> Sequence:
        return element


def flatten(items: grain.IterDataset) -> grain.IterDataset:
    """Items that are lists → their elements, one by one (resumable inside a list)."""
    return grain.experimental.FlatMapIterDataset(items, _Flatten())


class _Number:
    """record → (source index, record). A repeated shuffle asks epoch e for index i + e · len(records)."""

    def __init__(self, records: int):
        self.records = records

    def __call__(self, index: int, record: Any) -> tuple[int, Any]:
        return index % self.records, record


class _SkipNothing:
    """Drops the records that gave nothing; a whole pass of them in a row means none ever will."""

    def __init__(self, records: int):
        self.records, self.run = records, 0

    def __call__(self, item: Any) -> bool:
        self.run = 0 if item is not None else self.run + 1
        if self.run >= self.records:
            raise JaxlmError(
                f"data: {self.run} documents in a row gave no examples for data.objective; "
                "the documents are too short or empty"
            )
        return item is not None


def _examples(stream: grain.MapDataset, examples: Examples, records: int) -> grain.IterDataset:
    items = stream.to_iter_dataset(grain.ReadOptions(num_threads=READ_THREADS, prefetch_buffer_size=READ_BUFFER),
                                   allow_nones=True)
    return examples.from_stream(items.filter(_SkipNothing(records)))


def _in_worker_processes(batches: grain.IterDataset, workers: int, prefetch: int) -> grain.IterDataset:
    from absl import flags

    if not flags.FLAGS.is_parsed():  # grain's mp_prefetch reads an absl flag, which raises while unparsed
        flags.FLAGS.mark_as_parsed()
    # Batches come back pickled rather than in shared memory, so they are plain arrays the caller may keep.
    options = grain.experimental.DatasetOptions(min_shm_size=1 << 62)
    batches = grain.experimental.WithOptionsIterDataset(batches, options)
    return batches.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=prefetch))


def train_batches(
    records: Sequence, examples: Examples, *, batch_size: int, seed: int, process_index: int, process_count: int,
    prefetch: int, workers: int = 0,
) -> grain.IterDataset:
    """This process's endless batches of `batch_size` rows (see the module docstring)."""
    stream = grain.MapDataset.source(records).map_with_index(_Number(len(records))).seed(seed).shuffle().repeat()
    shard = stream.random_map(examples.from_record)[process_index::process_count]
    batches = _examples(shard, examples, len(records)).batch(batch_size)
    if workers:
        return _in_worker_processes(batches, workers, prefetch)
    return grain.experimental.ThreadPrefetchIterDataset(batches, prefetch_buffer_size=prefetch)


class _FillAndSlice:
    """A global batch (the last may be short) → its rows of this process, the short one filled
    up by repeating its own rows."""

    def __init__(self, process_index: int, batch_size: int):
        self.rows = np.arange(process_index * batch_size, (process_index + 1) * batch_size)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = self.rows % len(next(iter(batch.values())))
        return {key: value[rows] for key, value in batch.items()}


def validation_batches(
    records: Sequence, examples: Examples, *, batch_size: int, seed: int, process_index: int, process_count: int,
    prefetch: int,
) -> grain.IterDataset:
    """One pass of this process's rows of the global batches (see the module docstring)."""
    stream = grain.MapDataset.source(records).map_with_index(_Number(len(records))).seed(seed)
    stream = stream.random_map(examples.from_record)
    size = batch_size * process_count
    batches = _examples(stream, examples, len(records)).batch(size, drop_remainder=False)
    batches = batches.map(_FillAndSlice(process_index, batch_size))
    return grain.experimental.ThreadPrefetchIterDataset(batches, prefetch_buffer_size=prefetch)


def _tuples(state: Any) -> Any:
    """A grain state back from JSON: lists were tuples (grain compares some pairs with tuples)."""
    if isinstance(state, dict):
        return {key: _tuples(value) for key, value in state.items()}
    if isinstance(state, list):
        return tuple(_tuples(value) for value in state)
    return state


class Loader:
    """Iterator of this process's numpy batch dicts; `.state()` / `.restore(state)` for exact
    resumption, `.close()` to stop its threads. `tokenizer` is the one that tokenized the batches."""

    def __init__(
        self, batches: grain.IterDataset, *, split: str, process_index: int = 0, process_count: int = 1,
        workers: int = 0, state: dict | None = None, tokenizer: Any = None,
    ):
        if not 0 <= process_index < process_count:
            raise JaxlmError(f"process_index {process_index} is not in [0, {process_count})")
        self.batches, self.split, self.tokenizer = batches, split, tokenizer
        self.process_index, self.process_count, self.workers = process_index, process_count, workers
        self._iterator: Any = None
        _OPEN.add(self)
        self.restore(state or {"batches": 0})

    def state(self) -> dict:
        """Position after the last batch returned by `next` (JSON-serialisable)."""
        return {"grain": self._iterator.get_state(), "batches": self._count, "process_index": self.process_index,
                "process_count": self.process_count, "workers": self.workers}

    def restore(self, state: dict) -> None:
        """Continue from `state` (from `.state()` of a loader with the same config)."""
        if "batches" not in state:
            raise JaxlmError("loader state lacks 'batches'; pass a dict from Loader.state()")
        self.close()
        self._iterator = iter(self.batches)
        self._count = 0
        own_slice = self.split != "train" or state.get("process_index") == self.process_index
        same_layout = state.get("process_count") == self.process_count and state.get("workers", 0) == self.workers
        if state.get("grain") is not None and own_slice and same_layout:
            self._iterator.set_state(_tuples(state["grain"]))
            self._count = int(state["batches"])
        else:
            for _ in range(int(state["batches"])):
                next(self)

    def close(self) -> None:
        """Stop the pipeline's threads (and worker processes)."""
        if self._iterator is not None:
            self._iterator.close()
            self._iterator = None

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        batch = next(self._iterator)
        self._count += 1
        return batch

    def __del__(self):
        self.close()
