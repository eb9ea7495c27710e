import pytest

from jaxlm.cli import main
from jaxlm.config import ConfigError
from jaxlm.data import open_records
from jaxlm.data.embedded import embedded_documents
from jaxlm.errors import JaxlmError
from tests.data.conftest import make_config


def test_embedded_corpus_is_large_and_splits_disjointly():
    docs = embedded_documents()
    assert len(docs) > 150 and sum(map(len, docs)) > 900_000
    train, validation = (open_records(make_config().data, split) for split in ("train", "validation"))
    assert len(train) + len(validation) == len(docs)
    assert set(train).isdisjoint(validation) and len(validation) >= 5


def test_local_folder_is_one_document_per_file_through_tfds(text_folder):
    cfg = make_config(source="local", path=str(text_folder), validation_fraction=0.25)
    train, validation = open_records(cfg.data, "train"), open_records(cfg.data, "validation")
    assert len(train) + len(validation) == 24 and 4 <= len(validation) <= 8
    assert all(isinstance(doc, str) and doc.startswith("Document") for doc in train)
    assert {doc.split()[1] for doc in train}.isdisjoint({doc.split()[1] for doc in validation})


def test_local_file_splits_documents_at_blank_lines(tmp_path):
    file = tmp_path / "corpus.txt"
    file.write_text("\n\n".join(f"paragraph {i}\nsecond line" for i in range(10)))
    cfg = make_config(source="local", path=str(file), validation_fraction=0.0)
    docs = list(open_records(cfg.data, "train"))
    assert docs == [f"paragraph {i}\nsecond line" for i in range(10)] or sorted(docs) == sorted(
        f"paragraph {i}\nsecond line" for i in range(10)
    )


def test_classification_file_reads_label_tab_text(tmp_path):
    file = tmp_path / "labels.tsv"
    file.write_text("".join(f"{i % 2}\ttext number {i}\n" for i in range(20)))
    cfg = make_config("classification", source="local", path=str(file), validation_fraction=0.0)
    assert list(open_records(cfg.data, "train"))[:2] == [(0, "text number 0"), (1, "text number 1")]


def test_missing_path_is_a_one_line_error(tmp_path):
    cfg = make_config(source="local", path=str(tmp_path / "nowhere"))
    with pytest.raises(JaxlmError, match=r"data.path: .*nowhere' does not exist") as error:
        open_records(cfg.data, "train")
    assert "\n" not in str(error.value)


def test_empty_corpus_is_a_one_line_error(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n   \n")
    cfg = make_config(source="local", path=str(tmp_path / "empty.txt"))
    with pytest.raises(JaxlmError, match=r"data.path: the train split of .* is empty"):
        open_records(cfg.data, "train")


def test_bad_label_line_names_the_file_and_line(tmp_path):
    (tmp_path / "bad.tsv").write_text("1\tfine\nno tab here\n")
    cfg = make_config("classification", source="local", path=str(tmp_path / "bad.tsv"))
    with pytest.raises(JaxlmError, match=r"bad.tsv:2 has no TAB"):
        open_records(cfg.data, "train")


def test_sequence_too_short_for_bert_pair_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data.seq_length: 4 is too short for \[CLS\] A \[SEP\] B \[SEP\]"):
        make_config("mlm_nsp", seq_length=4)


def test_unknown_data_key_is_a_config_error():
    with pytest.raises(ConfigError, match=r"unknown key 'data.sead'; did you mean 'seed'"):
        make_config(sead=1)


def test_sequences_longer_than_the_learned_position_table_are_refused_by_the_loader():
    from jaxlm.config import load_config
    from jaxlm.objectives import make_loader

    cfg = load_config("gpt2_tiny", ["data.seq_length=200"])
    with pytest.raises(ConfigError, match=r"data.seq_length: 200 tokens exceed .*model.max_length=128"):
        make_loader(cfg, process_index=0, process_count=1)


@pytest.mark.parametrize("binary", [bytes(range(256)) * 64, b"\x7fELF\x02\x01\x01\x00" + bytes(5000)])
def test_a_binary_file_among_the_data_is_named_instead_of_blaming_the_vocabulary(tmp_path, capsys, binary):
    (tmp_path / "notes.txt").write_text("Plain text about lists and tuples.\n\nAnother paragraph.\n")
    (tmp_path / "model.bin").write_bytes(binary)
    overrides = ["data.source=local", f"data.path={tmp_path}", "train.steps=1", f"workdir={tmp_path / 'run'}"]
    assert main(["train", "gpt2_tiny", *overrides]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (f"error: data.path: {tmp_path / 'model.bin'} is a binary file, not text; "
                    "point data.path at text files only")
