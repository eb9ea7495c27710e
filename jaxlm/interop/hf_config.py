"""Hugging Face config.json ↔ jaxlm `ModelConfig`, for BERT, GPT-2 and T5 (v1.0 and v1.1).

Both directions work on plain dicts (the keys of `config.json`), so reading a folder needs no
transformers import. Whether the output projection is tied is decided from the weights by the
caller (`tied`): transformers 5 always reports `tie_word_embeddings=True` for T5 and records
v1.0's output scaling as `scale_decoder_outputs`.
"""

from __future__ import annotations

from typing import Any

from jaxlm.config import ModelConfig
from jaxlm.config.schema import build_section
from jaxlm.errors import JaxlmError

BERT_ARCHITECTURES = ("BertForPreTraining", "BertForMaskedLM", "BertForSequenceClassification")
GPT2_ARCHITECTURES = ("GPT2LMHeadModel",)
T5_ARCHITECTURES = ("T5ForConditionalGeneration",)
ARCHITECTURES = BERT_ARCHITECTURES + GPT2_ARCHITECTURES + T5_ARCHITECTURES
DEFAULT_ARCHITECTURE = {"bert": "BertForPreTraining", "gpt2": "GPT2LMHeadModel", "t5": "T5ForConditionalGeneration"}

# Hugging Face activation names (ACT2FN keys) → jaxlm's; the first name of each is used on export.
ACTIVATIONS = {
    "relu": ("relu",),
    "gelu": ("gelu",),
    "gelu_tanh": ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"),
    "silu": ("silu", "swish"),
}


def architecture_of(hf: dict[str, Any]) -> str:
    """The architecture config.json names (`architectures[0]`), else the model type's default."""
    names = hf.get("architectures") or []
    name = names[0] if names else DEFAULT_ARCHITECTURE.get(hf.get("model_type", ""), "")
    if name not in ARCHITECTURES:
        found = name or f"model_type '{hf.get('model_type')}'"
        raise JaxlmError(f"unsupported architecture {found}; jaxlm converts {', '.join(ARCHITECTURES)}")
    return name


def _activation(name: str) -> str:
    for ours, theirs in ACTIVATIONS.items():
        if name in theirs:
            return ours
    known = ", ".join(n for names in ACTIVATIONS.values() for n in names)
    raise JaxlmError(f"unsupported activation '{name}'; jaxlm converts {known}")


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise JaxlmError(what)


def _bert(hf: dict[str, Any], architecture: str, tied: bool) -> dict[str, Any]:
    _check(hf.get("position_embedding_type", "absolute") == "absolute",
           f"position_embedding_type '{hf.get('position_embedding_type')}' is not supported; jaxlm has absolute")
    _check(not hf.get("is_decoder") and not hf.get("add_cross_attention"),
           "BERT as a decoder (is_decoder / add_cross_attention) is not supported")
    attention_dropout = float(hf["attention_probs_dropout_prob"])
    return dict(
        family="encoder", vocab_size=hf["vocab_size"], d_model=hf["hidden_size"], num_heads=hf["num_attention_heads"],
        d_ff=hf["intermediate_size"], num_layers=hf["num_hidden_layers"], max_length=hf["max_position_embeddings"],
        position="learned", type_vocab_size=hf["type_vocab_size"], norm="layernorm",
        norm_eps=float(hf["layer_norm_eps"]), norm_position="post", embed_norm=True, final_norm=False,
        activation=_activation(hf["hidden_act"]),
        dropout_rate=float(hf["hidden_dropout_prob"]), attention_dropout_rate=attention_dropout,
        attention_impl="reference" if attention_dropout else "xla", tie_embeddings=tied,
        pooler=architecture != "BertForMaskedLM", mlm_head=architecture != "BertForSequenceClassification",
        nsp_head=architecture == "BertForPreTraining",
        num_labels=len(hf.get("id2label") or {}) if architecture == "BertForSequenceClassification" else 0,
        init_std=float(hf["initializer_range"]), pad_id=hf.get("pad_token_id") or 0,
    )


def _gpt2(hf: dict[str, Any], tied: bool) -> dict[str, Any]:
    _check(not hf.get("scale_attn_by_inverse_layer_idx"), "scale_attn_by_inverse_layer_idx=true is not supported")
    _check(not hf.get("add_cross_attention"), "GPT-2 with cross-attention (add_cross_attention) is not supported")
    attention_dropout = float(hf["attn_pdrop"])
    return dict(
        family="decoder", vocab_size=hf["vocab_size"], d_model=hf["n_embd"], num_heads=hf["n_head"],
        d_ff=hf.get("n_inner") or 4 * hf["n_embd"], num_layers=hf["n_layer"], max_length=hf["n_positions"],
        position="learned", norm="layernorm", norm_eps=float(hf["layer_norm_epsilon"]), norm_position="pre",
        final_norm=True, activation=_activation(hf["activation_function"]), dropout_rate=float(hf["resid_pdrop"]),
        attention_dropout_rate=attention_dropout, attention_impl="reference" if attention_dropout else "xla",
        scale_attention=hf.get("scale_attn_weights", True), tie_embeddings=tied,
        init_std=float(hf["initializer_range"]), pad_id=_token_id(hf.get("pad_token_id"), hf["vocab_size"]),
    )


def _t5(hf: dict[str, Any], tied: bool) -> dict[str, Any]:
    scaled = hf.get("scale_decoder_outputs", hf.get("tie_word_embeddings", True))
    _check(tied or not scaled,
           "T5 with an untied lm_head and scaled decoder outputs is not supported; jaxlm scales tied logits only")
    return dict(
        family="encoder_decoder", vocab_size=hf["vocab_size"], d_model=hf["d_model"], num_heads=hf["num_heads"],
        head_dim=hf["d_kv"], d_ff=hf["d_ff"], num_layers=hf["num_layers"],
        num_decoder_layers=hf.get("num_decoder_layers") or hf["num_layers"], max_length=hf.get("n_positions", 512),
        position="relative", relative_buckets=hf["relative_attention_num_buckets"],
        relative_max_distance=hf["relative_attention_max_distance"], norm="rmsnorm",
        norm_eps=float(hf["layer_norm_epsilon"]), norm_position="pre", final_norm=True,
        activation=_activation(hf["dense_act_fn"]), gated=bool(hf["is_gated_act"]), use_bias=False,
        scale_attention=False, dropout_rate=float(hf["dropout_rate"]), tie_embeddings=tied,
        scale_tied_logits=bool(scaled and tied), init="fan_in", init_std=float(hf.get("initializer_factor", 1.0)),
        pad_id=_token_id(hf.get("pad_token_id"), hf["vocab_size"]),
    )


def _token_id(value: int | None, vocab_size: int) -> int:
    return value if isinstance(value, int) and 0 <= value < vocab_size else 0


def model_config_from_hf(hf: dict[str, Any], architecture: str, *, tied: bool, **overrides: Any) -> ModelConfig:
    """A validated `ModelConfig` for the Hugging Face config `hf` (config.json keys) of
    `architecture`; `overrides` set jaxlm-only fields (e.g. scan_layers=True, dtype='bfloat16')."""
    try:
        if architecture in BERT_ARCHITECTURES:
            fields = _bert(hf, architecture, tied)
        elif architecture in GPT2_ARCHITECTURES:
            fields = _gpt2(hf, tied)
        else:
            fields = _t5(hf, tied)
    except KeyError as error:
        raise JaxlmError(f"config.json lacks key {error} that {architecture} needs") from None
    return build_section(ModelConfig, {**fields, **overrides}, "model")


def _require(cfg: ModelConfig, architecture: str, **expected: Any) -> None:
    for name, value in expected.items():
        if getattr(cfg, name) != value:
            raise JaxlmError(
                f"model.{name}={getattr(cfg, name)!r} cannot be expressed as {architecture} (it needs {value!r})"
            )


def hf_architecture(cfg: ModelConfig) -> str:
    """The transformers class a jaxlm model exports to."""
    if cfg.family == "decoder":
        return "GPT2LMHeadModel"
    if cfg.family == "encoder_decoder":
        return "T5ForConditionalGeneration"
    if cfg.num_labels:
        return "BertForSequenceClassification"
    if cfg.nsp_head:
        return "BertForPreTraining"
    if cfg.mlm_head:
        return "BertForMaskedLM"
    raise JaxlmError("an encoder without mlm_head, nsp_head or num_labels has no transformers class to export to")


def _hf_activation(cfg: ModelConfig) -> str:
    return ACTIVATIONS[cfg.activation][0]


def _t5_feed_forward(cfg: ModelConfig) -> str:
    """T5's feed_forward_proj: 'relu', 'gelu_new', … or 'gated-<act>' ('gated-gelu' means gelu_new)."""
    if not cfg.gated:
        return _hf_activation(cfg)
    _check(cfg.activation != "gelu", "model.gated with exact gelu cannot be expressed as T5; use gelu_tanh")
    return "gated-gelu" if cfg.activation == "gelu_tanh" else f"gated-{_hf_activation(cfg)}"


def hf_config_from_model(cfg: ModelConfig) -> tuple[str, str, dict[str, Any]]:
    """(model_type, architecture, config kwargs) of the transformers model equivalent to `cfg`;
    a `JaxlmError` names the first field that transformers cannot express."""
    architecture = hf_architecture(cfg)
    default_head = cfg.head_dim in (0, cfg.d_model // cfg.num_heads) and cfg.d_model % cfg.num_heads == 0
    if cfg.family == "encoder":
        _require(cfg, architecture, position="learned", norm="layernorm", norm_position="post", embed_norm=True,
                 final_norm=False, gated=False, use_bias=True, scale_attention=True,
                 pooler=architecture != "BertForMaskedLM")
        _check(default_head, f"model.head_dim={cfg.head_dim} cannot be expressed as {architecture}")
        _check(cfg.type_vocab_size > 0, f"model.type_vocab_size=0 cannot be expressed as {architecture}")
        return "bert", architecture, dict(
            vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, num_hidden_layers=cfg.num_layers,
            num_attention_heads=cfg.num_heads, intermediate_size=cfg.d_ff, hidden_act=_hf_activation(cfg),
            hidden_dropout_prob=cfg.dropout_rate, attention_probs_dropout_prob=cfg.attention_dropout_rate,
            max_position_embeddings=cfg.max_length, type_vocab_size=cfg.type_vocab_size,
            initializer_range=cfg.init_std, layer_norm_eps=cfg.norm_eps, pad_token_id=cfg.pad_id,
            num_labels=cfg.num_labels or 2, tie_word_embeddings=cfg.tie_embeddings,
        )
    if cfg.family == "decoder":
        _require(cfg, architecture, position="learned", norm="layernorm", norm_position="pre", embed_norm=False,
                 final_norm=True, gated=False, use_bias=True, type_vocab_size=0)
        _check(default_head, f"model.head_dim={cfg.head_dim} cannot be expressed as {architecture}")
        eos = 50256 if cfg.vocab_size > 50256 else None
        return "gpt2", architecture, dict(
            vocab_size=cfg.vocab_size, n_positions=cfg.max_length, n_embd=cfg.d_model, n_layer=cfg.num_layers,
            n_head=cfg.num_heads, n_inner=cfg.d_ff, activation_function=_hf_activation(cfg),
            resid_pdrop=cfg.dropout_rate, embd_pdrop=cfg.dropout_rate, attn_pdrop=cfg.attention_dropout_rate,
            layer_norm_epsilon=cfg.norm_eps, initializer_range=cfg.init_std, scale_attn_weights=cfg.scale_attention,
            tie_word_embeddings=cfg.tie_embeddings, bos_token_id=eos, eos_token_id=eos,
        )
    _require(cfg, architecture, position="relative", norm="rmsnorm", norm_position="pre", embed_norm=False,
             final_norm=True, use_bias=False, scale_attention=False, type_vocab_size=0)
    return "t5", architecture, dict(
        vocab_size=cfg.vocab_size, n_positions=cfg.max_length, d_model=cfg.d_model, d_kv=cfg.resolved_head_dim,
        d_ff=cfg.d_ff,
        num_layers=cfg.num_layers, num_decoder_layers=cfg.resolved_decoder_layers, num_heads=cfg.num_heads,
        relative_attention_num_buckets=cfg.relative_buckets,
        relative_attention_max_distance=cfg.relative_max_distance, dropout_rate=cfg.dropout_rate,
        layer_norm_epsilon=cfg.norm_eps, initializer_factor=cfg.init_std if cfg.init == "fan_in" else 1.0,
        feed_forward_proj=_t5_feed_forward(cfg), pad_token_id=cfg.pad_id,
        decoder_start_token_id=cfg.pad_id, tie_word_embeddings=cfg.tie_embeddings,
        scale_decoder_outputs=cfg.scale_tied_logits,
    )
