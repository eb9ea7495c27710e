import json

import numpy as np
import pytest

from jaxlm.data import Examples, Loader, open_records, train_batches
from jaxlm.errors import JaxlmError
from jaxlm.objectives import make_loader
from tests.data.conftest import make_config

KEYS = {
    "mlm_nsp": {"inputs", "token_types", "segments", "mlm_positions", "mlm_targets", "mlm_weights", "nsp_labels"},
    "causal_lm": {"inputs", "targets", "segments", "positions", "weights"},
    "span_corruption": {"inputs", "segments", "positions", "decoder_inputs", "targets", "decoder_segments",
                        "decoder_positions", "weights"},
}


def _take(loader, n):
    return [next(loader) for _ in range(n)]


def _equal(a, b):
    return len(a) == len(b) and all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
                                    for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("objective", sorted(KEYS))
def test_batches_hold_exactly_the_contract_keys(objective, tokenizer):
    loader = make_loader(make_config(objective), process_index=0, process_count=1, tokenizer=tokenizer)
    batch = next(loader)
    loader.close()
    assert set(batch) == KEYS[objective]
    assert all(v.shape[0] == 4 for v in batch.values())
    assert all(v.dtype == (np.float32 if k.endswith("weights") else np.int32) for k, v in batch.items())


def test_same_seed_same_batches_and_another_seed_differs(tokenizer):
    cfg = make_config()
    first = _take(make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer), 3)
    again = _take(make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer), 3)
    other = _take(make_loader(make_config(seed=1), process_index=0, process_count=1, tokenizer=tokenizer), 3)
    assert _equal(first, again) and not _equal(first, other)


@pytest.mark.parametrize("objective", sorted(KEYS))
@pytest.mark.parametrize("process_index, process_count", [(0, 1), (1, 2)])
def test_resume_from_state_equals_uninterrupted_run_across_epochs(objective, process_index, process_count,
                                                                  text_folder, tokenizer):
    cfg = make_config(objective, source="local", path=str(text_folder), seq_length=32, batch_size=4 * process_count)
    where = {"process_index": process_index, "process_count": process_count, "tokenizer": tokenizer}
    tokens = sum(len(tokenizer.encode(doc)) for doc in open_records(cfg.data, "train"))
    batches = 2 * -(-tokens // (4 * 32 // process_count))  # two epochs of one process's share, at least
    straight = make_loader(cfg, **where)
    expected = _take(straight, batches)
    straight.close()
    interrupted = make_loader(cfg, **where)
    _take(interrupted, batches // 3)
    state = json.loads(json.dumps(interrupted.state()))
    interrupted.close()
    resumed = make_loader(cfg, state=state, **where)
    assert _equal(_take(resumed, batches - batches // 3), expected[batches // 3 :])
    resumed.restore(state)
    assert _equal(_take(resumed, 5), expected[batches // 3 : batches // 3 + 5])
    resumed.close()


def test_a_worker_process_builds_batches_that_resume_exactly(text_folder, tokenizer):
    cfg = make_config("mlm_nsp", source="local", path=str(text_folder), batch_size=8, workers=1)
    where = {"process_index": 1, "process_count": 2, "tokenizer": tokenizer}
    straight = make_loader(cfg, **where)
    _take(straight, 3)
    state = json.loads(json.dumps(straight.state()))
    expected = _take(straight, 4)
    straight.close()
    resumed = make_loader(cfg, state=state, **where)
    assert _equal(_take(resumed, 4), expected)
    resumed.close()


def test_state_of_another_process_is_replayed_exactly(tokenizer):
    cfg = make_config(batch_size=8)
    own = make_loader(cfg, process_index=1, process_count=2, tokenizer=tokenizer)
    expected = _take(own, 6)
    leader = make_loader(cfg, process_index=0, process_count=2, tokenizer=tokenizer)
    _take(leader, 4)
    resumed = make_loader(cfg, process_index=1, process_count=2, tokenizer=tokenizer, state=leader.state())
    assert _equal(_take(resumed, 2), expected[4:])


def test_a_state_of_the_loader_before_grain_is_replayed(tokenizer):
    cfg = make_config(batch_size=4)
    expected = _take(make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer), 6)
    before_grain = {"epoch": 0, "window": 1, "offset": 7, "batches": 4, "process_index": 0, "process_count": 1}
    resumed = make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer, state=before_grain)
    assert _equal(_take(resumed, 2), expected[4:]) and resumed.state()["batches"] == 6


class Numbered(Examples):
    """Each record gives its source index and a draw of its rng."""

    def from_record(self, item, rng):
        return {"index": np.int32(item[0]), "draw": rng.integers(1 << 30)}


def _stream(records, process_index, process_count, batches, seed=0):
    loader = Loader(train_batches(records, Numbered(), batch_size=1, seed=seed, process_index=process_index,
                                  process_count=process_count, prefetch=2), split="train")
    rows = [(int(b["index"][0]), int(b["draw"][0])) for b in _take(loader, batches)]
    loader.close()
    return rows


def test_two_processes_share_each_epoch_disjointly_and_read_the_same_items_as_one():
    records = [f"record {i}" for i in range(40)]
    one = _stream(records, 0, 1, 80)
    two = [_stream(records, p, 2, 40) for p in range(2)]
    assert [row for pair in zip(*two, strict=True) for row in pair] == one, "the same stream, dealt out"
    epochs = [[index for index, _ in one[e * 40 : (e + 1) * 40]] for e in range(2)]
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(40)), "each epoch reads every record once"
    assert epochs[0] != epochs[1] and epochs[0] != sorted(epochs[0]), "shuffled, differently each epoch"
    first = [{index for index, _ in rows[:20]} for rows in two]
    assert first[0].isdisjoint(first[1]) and first[0] | first[1] == set(range(40))


def test_index_memory_stays_flat_as_the_number_of_records_grows():
    import tracemalloc

    class Synthetic:
        def __init__(self, size):
            self.size = size

        def __len__(self):
            return self.size

        def __getitem__(self, index):
            return f"synthetic document {index}"

    def peak(size):
        tracemalloc.start()
        rows = _stream(Synthetic(size), 1, 2, 50)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len({index for index, _ in rows}) == 50 and max(index for index, _ in rows) < size
        return top

    small, large = peak(1_000), peak(100_000_000)
    assert large - small < 1_000_000, f"{large - small} more bytes for 100 M records"


def test_validation_is_one_finite_pass_and_train_is_infinite(text_folder, tokenizer):
    cfg = make_config(source="local", path=str(text_folder), seq_length=16, validation_fraction=0.25)
    validation = list(make_loader(cfg, "validation", process_index=0, process_count=1, tokenizer=tokenizer))
    again = list(make_loader(cfg, "validation", process_index=0, process_count=1, tokenizer=tokenizer))
    assert 0 < len(validation) < 40 and _equal(validation, again)
    train = make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer)
    assert len(_take(train, 3 * len(validation) + 5)) == 3 * len(validation) + 5


def test_batch_size_must_split_over_processes(tokenizer):
    with pytest.raises(JaxlmError, match=r"data.batch_size: 4 rows do not split over 3 processes"):
        make_loader(make_config(), process_index=0, process_count=3, tokenizer=tokenizer)


def test_example_errors_surface_in_the_consumer():
    class Broken(Examples):
        def from_record(self, item, rng):
            raise ValueError("broken examples")

    loader = Loader(train_batches(["a", "b"], Broken(), batch_size=1, seed=0, process_index=0, process_count=1,
                                  prefetch=2), split="train")
    with pytest.raises(ValueError, match=r"broken examples"):
        next(loader)
    loader.close()


def test_records_that_never_give_examples_are_a_one_line_error():
    class Nothing(Examples):
        def from_record(self, item, rng):
            return None

    loader = Loader(train_batches(["a", "b", "c"], Nothing(), batch_size=1, seed=0, process_index=0,
                                  process_count=1, prefetch=2), split="train")
    with pytest.raises(JaxlmError, match=r"data: 3 documents in a row gave no examples"):
        next(loader)
    loader.close()


def test_classification_batches_from_a_labelled_file(tmp_path, tokenizer):
    words = ("bad", "good")
    (tmp_path / "sst.tsv").write_text("".join(f"{i % 2}\tthis film is {words[i % 2]} {i}\n" for i in range(40)))
    cfg = make_config("classification", source="local", path=str(tmp_path / "sst.tsv"))
    batch = next(make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer))
    assert set(batch) == {"inputs", "token_types", "segments", "labels"} and batch["labels"].shape == (4,)
    for row, label in zip(batch["inputs"], batch["labels"], strict=True):
        n = int(np.sum(row > 0))
        assert row[0] == tokenizer.cls_id and row[n - 1] == tokenizer.sep_id
        assert tokenizer.decode(row[1 : n - 1]).split()[3] == ("bad", "good")[label]


def test_bert_batches_from_the_embedded_corpus_mask_15_percent(tokenizer):
    loader = make_loader(make_config("mlm_nsp", seq_length=64, batch_size=32), process_index=0, process_count=1,
                         tokenizer=tokenizer)
    batches = _take(loader, 25)
    masked = sum(b["mlm_weights"].sum() for b in batches)
    real = sum(b["segments"].sum() for b in batches)
    nsp = np.mean([b["nsp_labels"].mean() for b in batches])
    assert abs(masked / real - 0.15) < 0.01 and abs(nsp - 0.5) < 0.05
    for b in batches:
        targets = b["mlm_targets"][b["mlm_weights"] > 0]
        assert not np.isin(targets, [tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id]).any()


def test_last_validation_batch_is_filled_with_its_own_examples(text_folder, tokenizer):
    cfg = make_config(source="local", path=str(text_folder), validation_fraction=0.25, batch_size=256)
    (batch,) = list(make_loader(cfg, "validation", process_index=0, process_count=1, tokenizer=tokenizer))
    rows = {tuple(row) for row in batch["inputs"]}
    assert batch["inputs"].shape == (256, 32) and 1 < len(rows) < 256
    assert batch["weights"].sum(axis=1).min() > 0, "every row is a real example"


def test_validation_rows_of_two_processes_make_up_the_single_process_batches(text_folder, tokenizer):
    cfg = make_config(source="local", path=str(text_folder), validation_fraction=0.25, batch_size=8, seq_length=16)
    whole = list(make_loader(cfg, "validation", process_index=0, process_count=1, tokenizer=tokenizer))
    halves = [list(make_loader(cfg, "validation", process_index=p, process_count=2, tokenizer=tokenizer))
              for p in range(2)]
    assert len(whole) == len(halves[0]) == len(halves[1]) > 1
    for batch, first, second in zip(whole, *halves, strict=True):
        for key in batch:
            np.testing.assert_array_equal(batch[key], np.concatenate([first[key], second[key]]))


def test_a_script_that_never_closes_its_loader_exits_cleanly(tokenizer):
    import subprocess
    import sys

    script = (
        "from jaxlm.objectives import make_loader\n"
        "from tests.data.conftest import make_config\n"
        "loaders = [make_loader(make_config('mlm_nsp', seed=s), process_index=0, process_count=1) for s in range(4)]\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Exception ignored" not in done.stderr, done.stderr[-500:]


def test_whole_word_masking_masks_every_piece_of_a_chosen_word(tokenizer):
    cfg = make_config("mlm_nsp", seq_length=64, batch_size=16, whole_word_masking=True)
    batch = next(make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer))
    starts = tokenizer.word_starts()
    continued = 0
    for inputs, positions, targets, weights in zip(batch["inputs"], batch["mlm_positions"], batch["mlm_targets"],
                                                   batch["mlm_weights"], strict=True):
        chosen = positions[weights > 0]
        original = inputs.copy()
        original[chosen] = targets[weights > 0]
        masked = np.zeros(len(inputs), bool)
        masked[chosen] = True
        for p in range(1, int(np.sum(original > 0))):
            if not starts[original[p]] and original[p - 1] not in (tokenizer.cls_id, tokenizer.sep_id):
                assert masked[p] == masked[p - 1], "a word is masked whole or not at all"
                continued += masked[p]
    assert continued > 0, "some masked words have several pieces"
