"""Hugging Face tokenizers through jaxlm's interface give transformers' ids and text: GPT-2's
byte-level BPE and BERT's WordPiece (tokenizer.json), T5's spiece.model (sentencepiece, sentinels
from the top) and the same T5 vocabulary as transformers saves it (tokenizer.json)."""

import numpy as np
import pytest
import transformers

from jaxlm.data import folder_tokenizer, open_tokenizer, save_tokenizer
from jaxlm.data.embedded import embedded_documents
from jaxlm.data.text import sentences
from tests.interop.hf_folders import BUILDERS, SIZE

CORPUS = [s for doc in embedded_documents()[60:64] for s in sentences(doc)][:40]
TEXTS = [*CORPUS, "The import statement imports a module.", "Don't  split   spaces , please !", "naïve café — ok?", ""]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf_tokenizers")
    out = {kind: build(root / kind) for kind, build in BUILDERS.items()}
    t5_json = root / "t5_json"  # what transformers writes for the same vocabulary: tokenizer.json
    transformers.AutoTokenizer.from_pretrained(out["t5"]).save_pretrained(t5_json)
    return {**out, "t5_json": t5_json}


@pytest.mark.parametrize("kind", ["gpt2", "bert", "t5", "t5_json"])
def test_ids_and_text_match_transformers(folders, kind):
    ours, theirs = open_tokenizer(folders[kind]), transformers.AutoTokenizer.from_pretrained(folders[kind])
    assert ours.vocab_size == len(theirs) == SIZE
    for text in TEXTS:
        assert ours.encode(text).tolist() == theirs(text, add_special_tokens=False).input_ids, text
    rng = np.random.default_rng(0)
    for _ in range(30):
        ids = [int(i) for i in rng.integers(0, SIZE, size=12) if i != ours.pad_id]
        assert ours.decode(ids) == theirs.decode(ids, skip_special_tokens=False), ids


def test_special_ids_are_read_from_each_tokenizer(folders):
    gpt2, bert, t5, t5_json = (open_tokenizer(folders[k]) for k in ("gpt2", "bert", "t5", "t5_json"))
    end = gpt2.encode("<|endoftext|>").tolist()
    assert end == [gpt2.eos_id] and gpt2.bos_id is None and gpt2.pad_id is None and gpt2.mask_id is None
    assert [bert.id_to_piece(getattr(bert, role)) for role in ("pad_id", "cls_id", "sep_id", "mask_id")] == \
        ["[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    assert bert.eos_id is None and bert.bos_id is None
    for tokenizer in (t5, t5_json):
        assert (tokenizer.pad_id, tokenizer.eos_id, tokenizer.unk_id, tokenizer.bos_id) == (0, 1, 2, None)
        assert [tokenizer.sentinel(i) for i in (0, 1, 99)] == [SIZE - 1, SIZE - 2, SIZE - 100]
        assert tokenizer.decode([tokenizer.sentinel(1)]) == "<extra_id_1>"


def test_learned_range_and_word_starts_skip_specials(folders):
    bert = open_tokenizer(folders["bert"])
    assert bert.learned_range() == (5, SIZE)
    starts = bert.word_starts()
    pieces = [bert.id_to_piece(i) for i in range(SIZE)]
    assert all(starts[i] == (not piece.startswith("##")) for i, piece in enumerate(pieces))
    gpt2 = open_tokenizer(folders["gpt2"])
    ids = gpt2.encode(" statement iterates")
    assert gpt2.word_starts()[ids[0]] and gpt2.id_to_piece(int(ids[0])).startswith("Ġ")


@pytest.mark.parametrize("kind", ["gpt2", "t5"])
def test_a_saved_tokenizer_reads_back_the_same_from_a_moved_folder(folders, tmp_path, kind):
    original = open_tokenizer(folders[kind])
    save_tokenizer(original, tmp_path / "run")
    (tmp_path / "run").rename(tmp_path / "moved")
    again = folder_tokenizer(tmp_path / "moved")
    assert again.encode(TEXTS[0]).tolist() == original.encode(TEXTS[0]).tolist()
    assert (again.vocab_size, again.eos_id, again.sentinel_ids) == (original.vocab_size, original.eos_id,
                                                                    original.sentinel_ids)
