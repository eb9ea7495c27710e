import numpy as np
import pytest

from jaxlm.data import load_tokenizer
from jaxlm.data.embedded import embedded_documents
from jaxlm.data.text import sentences
from jaxlm.data.tokenizer import NUM_SENTINELS, SPECIAL_PIECES, Tokenizer, cached_tokenizer
from jaxlm.errors import JaxlmError
from tests.data.conftest import VOCAB, make_config


def test_special_tokens_have_fixed_ids_and_pad_is_zero(tokenizer):
    assert [tokenizer.sp.id_to_piece(i) for i in range(7)] == list(SPECIAL_PIECES)
    assert (tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id) == (0, 4, 5, 6)
    assert tokenizer.vocab_size == VOCAB == tokenizer.num_pieces + NUM_SENTINELS


def test_sentinels_count_down_from_the_top_of_the_vocabulary(tokenizer):
    assert tokenizer.sentinel(0) == VOCAB - 1
    assert tokenizer.sentinel(99) == VOCAB - 100 == tokenizer.num_pieces
    assert tokenizer.decode([tokenizer.sentinel(3)]) == "<extra_id_3>"


def test_encode_decode_round_trip_and_mask_token_in_text(tokenizer):
    text = "The for statement iterates over the items of a sequence."
    ids = tokenizer.encode(text)
    assert ids.dtype == np.int32 and ids.max() < tokenizer.num_pieces
    assert tokenizer.decode(ids) == text
    assert tokenizer.mask_id in tokenizer.encode("a [MASK] b").tolist()


def test_tokenizer_is_cached_by_content_hash(tokenizer):
    again = load_tokenizer(make_config())
    assert again.path == tokenizer.path
    mtime = __import__("os").stat(tokenizer.path).st_mtime_ns
    load_tokenizer(make_config("mlm_nsp"))
    assert __import__("os").stat(tokenizer.path).st_mtime_ns == mtime


def test_unigram_trains_and_saves_a_loadable_model(tmp_path):
    texts = [s for doc in embedded_documents()[:20] for s in sentences(doc)]
    trained = cached_tokenizer(tmp_path, "unit-test", 400, "unigram", texts)
    loaded = Tokenizer.load(trained.path, 400)
    assert loaded.encode("a for loop").tolist() == trained.encode("a for loop").tolist()
    assert loaded.num_pieces == 300 and loaded.sp.id_to_piece(6) == "[MASK]"


def test_vocabulary_too_small_for_special_tokens_is_a_one_line_error():
    with pytest.raises(JaxlmError, match=r"model.vocab_size: 100 is too small") as error:
        load_tokenizer(make_config(vocab_size=100))
    assert "\n" not in str(error.value)


def test_model_vocab_smaller_than_a_loaded_tokenizer_is_an_error(tokenizer):
    with pytest.raises(JaxlmError, match=r"model.vocab_size"):
        Tokenizer.load(tokenizer.path, VOCAB - 1)


def test_whole_word_starts_mark_word_initial_pieces(tokenizer):
    starts = tokenizer.word_starts()
    ids = tokenizer.encode("statement iterates")
    assert starts[ids[0]]
    assert starts[: 7].all() and starts[tokenizer.num_pieces :].all()
