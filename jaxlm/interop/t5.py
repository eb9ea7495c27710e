"""T5 weights (v1.0 and v1.1): T5ForConditionalGeneration ↔ EncoderDecoderModel.

    shared (= encoder/decoder.embed_tokens)              → embedder.token.embedding
    {stack}.block.0.layer.0.SelfAttention.relative_attention_bias → {stack}.relative_bias.embedding
    {stack}.block.i.layer.0.SelfAttention.{q,k,v,o}, layer_norm   → {stack}.layers.i.self_attention.*, _norm
    decoder.block.i.layer.1.EncDecAttention.{q,k,v,o}, layer_norm → decoder.layers.i.cross_attention.*, _norm
    {stack}.block.i.layer.-1.DenseReluDense.{wi | wi_0, wi_1, wo}, layer_norm → feed_forward.{wi_0, wi_1, wo}, _norm
    {stack}.final_layer_norm → {stack}.final_norm; lm_head (tied to shared, or lm_head.projection)
"""

from __future__ import annotations

from jaxlm.config import ModelConfig
from jaxlm.interop.mapping import Rule, copy, linear

TIED = ("lm_head.weight", "shared.weight")
IGNORED = (r"^decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight$",)


def normalize_keys(key: str) -> str:
    return key


def attention(hf: str, jaxlm: str) -> list[Rule]:
    names = {"q": "query", "k": "key", "v": "value", "o": "output"}
    return [linear(f"{hf}.{theirs}.weight", f"{jaxlm}.{ours}.kernel") for theirs, ours in names.items()]


def stack(cfg: ModelConfig, name: str, num_layers: int) -> list[Rule]:
    decoder = name == "decoder"
    out = [copy(f"{name}.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                f"{name}.relative_bias.embedding")]
    for i in range(num_layers):
        hf, ours = f"{name}.block.{i}.layer", f"{name}.layers.{i}"
        out += attention(f"{hf}.0.SelfAttention", f"{ours}.self_attention")
        out.append(copy(f"{hf}.0.layer_norm.weight", f"{ours}.self_attention_norm.scale"))
        if decoder:
            out += attention(f"{hf}.1.EncDecAttention", f"{ours}.cross_attention")
            out.append(copy(f"{hf}.1.layer_norm.weight", f"{ours}.cross_attention_norm.scale"))
        ff = f"{hf}.{2 if decoder else 1}"
        inputs = ("wi_0", "wi_1") if cfg.gated else ("wi",)
        for theirs, ours_name in zip(inputs, ("wi_0", "wi_1"), strict=False):
            out.append(linear(f"{ff}.DenseReluDense.{theirs}.weight", f"{ours}.feed_forward.{ours_name}.kernel"))
        out.append(linear(f"{ff}.DenseReluDense.wo.weight", f"{ours}.feed_forward.wo.kernel"))
        out.append(copy(f"{ff}.layer_norm.weight", f"{ours}.feed_forward_norm.scale"))
    out.append(copy(f"{name}.final_layer_norm.weight", f"{name}.final_norm.scale"))
    return out


def rules(cfg: ModelConfig) -> tuple[list[Rule], dict[str, str]]:
    """The rules and tied-weight aliases of the T5 model that `cfg` describes."""
    out = [copy("shared.weight", "embedder.token.embedding"),
           *stack(cfg, "encoder", cfg.num_layers), *stack(cfg, "decoder", cfg.resolved_decoder_layers)]
    aliases = {"encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight"}
    if cfg.tie_embeddings:
        aliases["lm_head.weight"] = "shared.weight"
    else:
        out.append(linear("lm_head.weight", "lm_head.projection.kernel"))
    return out, aliases
