"""Shared fixtures: a throw-away cache (JAXLM_CACHE) and one small BPE tokenizer for the session."""

import os

import pytest

from jaxlm.config import config_from_dict

TINY_MODELS = {
    "decoder": {"family": "decoder", "d_model": 16, "num_heads": 2, "d_ff": 32, "num_layers": 1, "max_length": 64},
    "encoder": {"family": "encoder", "d_model": 16, "num_heads": 2, "d_ff": 32, "num_layers": 1, "max_length": 64,
                "type_vocab_size": 2, "pooler": True, "mlm_head": True, "nsp_head": True},
    "encoder_decoder": {"family": "encoder_decoder", "d_model": 16, "num_heads": 2, "d_ff": 32, "num_layers": 1,
                        "max_length": 64, "position": "relative"},
}
FAMILY = {"mlm_nsp": "encoder", "classification": "encoder", "causal_lm": "decoder",
          "span_corruption": "encoder_decoder", "seq2seq": "encoder_decoder"}
VOCAB = 512


def make_config(objective="causal_lm", vocab_size=VOCAB, **data):
    """A tiny config for `objective` with a BPE tokenizer of `vocab_size` ids and `data` overrides."""
    model = {**TINY_MODELS[FAMILY[objective]], "vocab_size": vocab_size}
    if objective == "classification":
        model["num_labels"] = 2
    data = {"objective": objective, "seq_length": 32, "batch_size": 4, "tokenizer": "bpe", **data}
    return config_from_dict({"model": model, "data": data})


@pytest.fixture(scope="session", autouse=True)
def jaxlm_cache(tmp_path_factory):
    previous = os.environ.get("JAXLM_CACHE")
    path = tmp_path_factory.mktemp("jaxlm_cache")
    os.environ["JAXLM_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("JAXLM_CACHE", None)
    else:
        os.environ["JAXLM_CACHE"] = previous


@pytest.fixture(scope="session")
def tokenizer(jaxlm_cache):
    from jaxlm.data import load_tokenizer

    return load_tokenizer(make_config())


@pytest.fixture()
def text_folder(tmp_path):
    """A folder of 24 short documents, one per file."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(24):
        colors = ("red", "blue")
        sentences = " ".join(f"Document {i} says fact number {j} about the {colors[j % 2]} box." for j in range(6))
        (folder / f"doc{i:02d}.txt").write_text(sentences + "\n")
    return folder
