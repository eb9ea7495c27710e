import json

import numpy as np
import pytest

from jaxlm.data import make_loader
from jaxlm.data.loader import Loader
from jaxlm.errors import JaxlmError
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


def test_resume_from_state_equals_uninterrupted_run_across_epochs(text_folder, tokenizer):
    cfg = make_config(source="local", path=str(text_folder), seq_length=32)
    straight = make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer)
    expected = _take(straight, 40)
    assert straight.state()["epoch"] >= 1, "the run crosses an epoch boundary"
    interrupted = make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer)
    _take(interrupted, 13)
    state = json.loads(json.dumps(interrupted.state()))
    interrupted.close()
    resumed = make_loader(cfg, process_index=0, process_count=1, tokenizer=tokenizer, state=state)
    assert _equal(_take(resumed, 27), expected[13:])
    resumed.restore(state)
    assert _equal(_take(resumed, 5), expected[13:18])


def test_state_of_another_process_is_replayed_exactly(tokenizer):
    cfg = make_config(batch_size=8)
    own = make_loader(cfg, process_index=1, process_count=2, tokenizer=tokenizer)
    expected = _take(own, 6)
    leader = make_loader(cfg, process_index=0, process_count=2, tokenizer=tokenizer)
    _take(leader, 4)
    resumed = make_loader(cfg, process_index=1, process_count=2, tokenizer=tokenizer, state=leader.state())
    assert _equal(_take(resumed, 2), expected[4:])


def test_two_processes_read_disjoint_slices_that_cover_the_data(tokenizer):
    cfg = make_config(batch_size=8)
    loaders = [make_loader(cfg, process_index=p, process_count=2, tokenizer=tokenizer) for p in range(2)]
    for epoch in range(2):
        slices = [set(loader.process_order(epoch).tolist()) for loader in loaders]
        assert slices[0].isdisjoint(slices[1])
        assert slices[0] | slices[1] == set(range(len(loaders[0].records)))
    batches = [next(loader) for loader in loaders]
    assert all(b["inputs"].shape == (4, 32) for b in batches)
    assert not np.array_equal(batches[0]["inputs"], batches[1]["inputs"])


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


def test_builder_errors_surface_in_the_consumer():
    def broken(records, rng):
        raise ValueError("broken builder")

    loader = Loader(["a", "b"], broken, batch_size=1, seed=0, split="train")
    with pytest.raises(ValueError, match=r"broken builder"):
        next(loader)


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


def test_last_validation_batch_is_filled_with_the_first_examples(text_folder, tokenizer):
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
        "from jaxlm.data import make_loader\n"
        "from tests.data.conftest import make_config\n"
        "loaders = [make_loader(make_config('mlm_nsp', seed=s), process_index=0, process_count=1) for s in range(4)]\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]


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
