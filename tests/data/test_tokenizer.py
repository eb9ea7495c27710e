"""Our sentencepiece tokenizer: special ids read from the model, sentinels above it, deterministic
training cached by content hash, fewer pieces than model rows, one-line errors."""

import hashlib
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from jaxlm.cli import main
from jaxlm.config import config_from_dict
from jaxlm.data import load_tokenizer, open_tokenizer
from jaxlm.data.embedded import embedded_documents
from jaxlm.data.text import sentences
from jaxlm.data.tokenizer_sentencepiece import NUM_SENTINELS
from jaxlm.data.tokenizer_training import MAX_TRAINING_SENTENCES, SPECIAL_PIECES, cached_tokenizer, sample_sentences
from jaxlm.errors import JaxlmError
from tests.data.conftest import VOCAB, make_config


def test_special_tokens_have_fixed_ids_and_pad_is_zero(tokenizer):
    assert [tokenizer.id_to_piece(i) for i in range(7)] == list(SPECIAL_PIECES)
    roles = (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.cls_id,
             tokenizer.sep_id, tokenizer.mask_id)
    assert roles == (0, 1, 2, 3, 4, 5, 6)
    assert tokenizer.vocab_size == VOCAB == tokenizer.num_pieces + NUM_SENTINELS


def test_sentinels_count_down_from_the_top_of_the_vocabulary(tokenizer):
    assert tokenizer.sentinel(0) == VOCAB - 1
    assert tokenizer.sentinel(99) == VOCAB - 100 == tokenizer.num_pieces
    assert tokenizer.decode([tokenizer.sentinel(3)]) == "<extra_id_3>"
    with pytest.raises(JaxlmError, match="<extra_id_100> is not in the tokenizer"):
        tokenizer.sentinel(100)


def test_encode_decode_round_trip_and_mask_token_in_text(tokenizer):
    text = "The for statement iterates over the items of a sequence."
    ids = tokenizer.encode(text)
    assert ids.dtype == np.int32 and ids.max() < tokenizer.num_pieces
    assert tokenizer.decode(ids) == text
    assert tokenizer.mask_id in tokenizer.encode("a [MASK] b").tolist()
    assert tokenizer.decode([*tokenizer.encode("a b"), tokenizer.sentinel(0), *tokenizer.encode("c")]) == \
        "a b<extra_id_0> c"


def test_tokenizer_is_cached_by_content_hash(tokenizer):
    again = load_tokenizer(make_config())
    assert again.path == tokenizer.path
    mtime = __import__("os").stat(tokenizer.path).st_mtime_ns
    load_tokenizer(make_config("mlm_nsp"))
    assert __import__("os").stat(tokenizer.path).st_mtime_ns == mtime


def test_unigram_trains_and_saves_a_loadable_model(tmp_path):
    texts = [s for doc in embedded_documents()[:20] for s in sentences(doc)]
    trained = cached_tokenizer(tmp_path, "unit-test", 400, "unigram", texts)
    loaded = open_tokenizer(trained.path)
    assert loaded.encode("a for loop").tolist() == trained.encode("a for loop").tolist()
    assert loaded.num_pieces == 300 and loaded.id_to_piece(6) == "[MASK]"


TRAIN = """
import hashlib, pathlib, sys
from jaxlm.data.tokenizer_training import cached_tokenizer
texts = pathlib.Path(sys.argv[1]).read_text().splitlines()
tok = cached_tokenizer(pathlib.Path(sys.argv[2]), "x", 512, sys.argv[3], iter(texts))
print(hashlib.sha256(pathlib.Path(tok.path).read_bytes()).hexdigest())
"""


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_training_is_byte_identical_across_processes(tmp_path, model_type):
    """More sentences than are sampled, so sampling must be seeded: here and in a fresh process
    (with its own sentencepiece generator) the same text gives the same model."""
    texts = [s for doc in embedded_documents() for s in sentences(doc)]
    assert len(texts) > MAX_TRAINING_SENTENCES
    (tmp_path / "texts.txt").write_text("\n".join(texts))
    run = subprocess.run([sys.executable, "-c", TRAIN, str(tmp_path / "texts.txt"), str(tmp_path / "there"),
                          model_type], capture_output=True, text=True, check=True)
    here = cached_tokenizer(tmp_path / "here", "x", 512, model_type, iter(texts))
    assert run.stdout.strip() == hashlib.sha256(pathlib.Path(here.path).read_bytes()).hexdigest()


def test_sampling_is_seeded_uniform_and_keeps_short_streams_whole():
    assert sample_sentences(map(str, range(5)), 10) == ["0", "1", "2", "3", "4"]
    first = sample_sentences(map(str, range(20_000)), 1000)
    assert first == sample_sentences(map(str, range(20_000)), 1000)
    values = np.array(first, dtype=int)
    assert len(set(first)) == 1000
    assert abs(values.mean() - 10_000) < 600  # the mean of 1000 uniform draws: sd ≈ 183
    assert abs(np.mean(values < 5000) - 0.25) < 0.05


def test_a_model_larger_than_the_corpus_supports_gets_fewer_pieces():
    """gpt2_small's 50,257 rows on the embedded corpus: the tokenizer learns what it can, the
    extra rows stay unused."""
    cfg = make_config(vocab_size=50257)
    tokenizer = load_tokenizer(cfg)
    assert 2000 < tokenizer.vocab_size < 50257
    assert tokenizer.sentinel(0) == tokenizer.vocab_size - 1
    assert tokenizer.decode(tokenizer.encode("The import statement.")) == "The import statement."


def test_vocabulary_too_small_for_special_tokens_is_a_one_line_error():
    with pytest.raises(JaxlmError, match=r"model.vocab_size: 100 is too small") as error:
        load_tokenizer(make_config(vocab_size=100))
    assert "\n" not in str(error.value)


def test_more_tokenizer_ids_than_model_rows_is_a_one_line_error(tokenizer):
    cfg = make_config(vocab_size=VOCAB - 1, tokenizer_path=tokenizer.path)
    with pytest.raises(JaxlmError, match=rf"model.vocab_size: {VOCAB - 1} rows cannot hold the {VOCAB} ids"):
        load_tokenizer(cfg)


def test_pad_id_other_than_the_tokenizers_is_an_error(tokenizer):
    cfg = config_from_dict(make_config().to_dict(), ["model.pad_id=3"])
    with pytest.raises(JaxlmError, match=r"model\.pad_id: 3 is not the tokenizer.s pad id 0; set model\.pad_id=0"):
        load_tokenizer(cfg)


def test_whole_word_starts_mark_word_initial_pieces(tokenizer):
    starts = tokenizer.word_starts()
    ids = tokenizer.encode("statement iterates")
    assert starts[ids[0]] and not starts[ids[1:]].all()
    assert starts[: 7].all() and starts[tokenizer.num_pieces :].all()


@pytest.mark.parametrize("content", [b"\x00\x01garbage", b'{"version": "1.0", "model": '])
def test_a_corrupt_tokenizer_file_is_a_one_line_error_naming_it(tmp_path, capsys, content):
    path = tmp_path / ("bad.json" if content.startswith(b"{") else "bad.model")
    path.write_bytes(content)
    code = main(["prepare", "gpt2_tiny", "model.vocab_size=512", "data.seq_length=32", f"data.tokenizer_path={path}"])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 2 and len(errors) == 1
    assert errors[0].startswith(f"error: {path}: not a ") and "model.vocab_size" not in errors[0]


def test_a_tokenizer_json_without_the_tokenizers_package_says_what_to_install(tmp_path, capsys, monkeypatch):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"version": "1.0"}')
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # `import tokenizers` now raises ImportError
    code = main(["prepare", "gpt2_tiny", "data.seq_length=32", f"data.tokenizer_path={path}"])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # beside the progress bar
    assert code == 2 and len(errors) == 1
    assert errors[0] == (f"error: {path}: reading a Hugging Face tokenizer.json needs the tokenizers package, "
                    "not installed; pip install tokenizers")


def test_ctrl_c_while_training_the_tokenizer_is_an_interrupt_not_a_vocabulary_error(monkeypatch, capsys, tmp_path):
    import jaxlm.data.pipeline

    def interrupted(cfg):
        yield "A first sentence."
        raise KeyboardInterrupt

    monkeypatch.setenv("JAXLM_CACHE", str(tmp_path))
    monkeypatch.setattr(jaxlm.data.pipeline, "training_texts", interrupted)
    assert main(["prepare", "gpt2_tiny", "model.vocab_size=600"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "interrupted"
    assert not list(tmp_path.rglob("*.model"))
