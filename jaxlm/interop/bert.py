"""BERT weights: BertForPreTraining, BertForMaskedLM, BertForSequenceClassification ↔ EncoderModel.

    bert.embeddings.{word,position,token_type}_embeddings, LayerNorm   → embedder.*
    bert.encoder.layer.i.attention.self.{query,key,value}              → encoder.layers.i.self_attention.*
    bert.encoder.layer.i.attention.output.{dense, LayerNorm}           → self_attention.output, self_attention_norm
    bert.encoder.layer.i.{intermediate.dense, output.dense}            → feed_forward.{wi_0, wo}
    bert.encoder.layer.i.output.LayerNorm                              → feed_forward_norm
    bert.pooler.dense → pooler.dense; cls.predictions.transform.{dense, LayerNorm}, bias → mlm_head.*
    cls.seq_relationship → nsp_head.dense; classifier → classifier.dense
"""

from __future__ import annotations

from jaxlm.config import ModelConfig
from jaxlm.interop.mapping import Rule, copy, linear

IGNORED = (r"position_ids$",)
TIED = ("cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight")
_BASE_PREFIXES = ("embeddings.", "encoder.", "pooler.")


def dense(hf: str, jaxlm: str) -> list[Rule]:
    return [linear(f"{hf}.weight", f"{jaxlm}.kernel"), copy(f"{hf}.bias", f"{jaxlm}.bias")]


def layer_norm(hf: str, jaxlm: str) -> list[Rule]:
    return [copy(f"{hf}.weight", f"{jaxlm}.scale"), copy(f"{hf}.bias", f"{jaxlm}.bias")]


def normalize_keys(key: str) -> str:
    """Names from older checkpoints: a bare BertModel prefix, TF-style LayerNorm gamma/beta."""
    if key.startswith(_BASE_PREFIXES):
        key = f"bert.{key}"
    if ".LayerNorm." in key:
        key = key.replace(".gamma", ".weight").replace(".beta", ".bias")
    return key


def rules(cfg: ModelConfig) -> tuple[list[Rule], dict[str, str]]:
    """The rules and tied-weight aliases of the BERT model that `cfg` describes."""
    embed = "bert.embeddings"
    out = [
        copy(f"{embed}.word_embeddings.weight", "embedder.token.embedding"),
        copy(f"{embed}.position_embeddings.weight", "embedder.positions.embedding"),
        copy(f"{embed}.token_type_embeddings.weight", "embedder.token_types.embedding"),
        *layer_norm(f"{embed}.LayerNorm", "embedder.norm"),
    ]
    for i in range(cfg.num_layers):
        hf, ours = f"bert.encoder.layer.{i}", f"encoder.layers.{i}"
        for name in ("query", "key", "value"):
            out += dense(f"{hf}.attention.self.{name}", f"{ours}.self_attention.{name}")
        out += dense(f"{hf}.attention.output.dense", f"{ours}.self_attention.output")
        out += layer_norm(f"{hf}.attention.output.LayerNorm", f"{ours}.self_attention_norm")
        out += dense(f"{hf}.intermediate.dense", f"{ours}.feed_forward.wi_0")
        out += dense(f"{hf}.output.dense", f"{ours}.feed_forward.wo")
        out += layer_norm(f"{hf}.output.LayerNorm", f"{ours}.feed_forward_norm")
    aliases = {}
    if cfg.pooler:
        out += dense("bert.pooler.dense", "pooler.dense")
    if cfg.mlm_head:
        out += dense("cls.predictions.transform.dense", "mlm_head.transform")
        out += layer_norm("cls.predictions.transform.LayerNorm", "mlm_head.norm")
        out.append(copy("cls.predictions.bias", "mlm_head.output_bias"))
        aliases["cls.predictions.decoder.bias"] = "cls.predictions.bias"
        if cfg.tie_embeddings:
            aliases["cls.predictions.decoder.weight"] = f"{embed}.word_embeddings.weight"
        else:
            out.append(linear("cls.predictions.decoder.weight", "mlm_head.decoder.projection.kernel"))
    if cfg.nsp_head:
        out += dense("cls.seq_relationship", "nsp_head.dense")
    if cfg.num_labels:
        out += dense("classifier", "classifier.dense")
    return out, aliases
