"""GPT-2 weights: GPT2LMHeadModel ↔ DecoderModel.

GPT-2's Conv1D stores weights as [in, out], jaxlm's kernel layout, so they copy as they are;
c_attn holds query, key and value side by side on its last axis.

    transformer.{wte, wpe}                      → embedder.{token, positions}.embedding
    transformer.h.i.{ln_1, attn.c_attn, attn.c_proj} → decoder.layers.i.{self_attention_norm,
                                                  self_attention.{query,key,value}, self_attention.output}
    transformer.h.i.ln_2, mlp.c_fc, mlp.c_proj  → feed_forward_norm, feed_forward.{wi_0, wo}
    transformer.ln_f → decoder.final_norm; lm_head (tied to wte, or lm_head.projection)
"""

from __future__ import annotations

from jaxlm.config import ModelConfig
from jaxlm.interop.mapping import Rule, copy, linear

IGNORED = (r"\.attn\.bias$", r"\.attn\.masked_bias$")
TIED = ("lm_head.weight", "transformer.wte.weight")
_BASE_PREFIXES = ("wte.", "wpe.", "h.", "ln_f.")


def normalize_keys(key: str) -> str:
    """Checkpoints saved from GPT2Model (as OpenAI's are) lack the 'transformer.' prefix."""
    return f"transformer.{key}" if key.startswith(_BASE_PREFIXES) else key


def conv1d(hf: str, jaxlm: str) -> list[Rule]:
    return [copy(f"{hf}.weight", f"{jaxlm}.kernel"), copy(f"{hf}.bias", f"{jaxlm}.bias")]


def layer_norm(hf: str, jaxlm: str) -> list[Rule]:
    return [copy(f"{hf}.weight", f"{jaxlm}.scale"), copy(f"{hf}.bias", f"{jaxlm}.bias")]


def rules(cfg: ModelConfig) -> tuple[list[Rule], dict[str, str]]:
    """The rules and tied-weight aliases of the GPT-2 model that `cfg` describes."""
    out = [copy("transformer.wte.weight", "embedder.token.embedding"),
           copy("transformer.wpe.weight", "embedder.positions.embedding")]
    for i in range(cfg.num_layers):
        hf, ours = f"transformer.h.{i}", f"decoder.layers.{i}"
        attention = f"{ours}.self_attention"
        out += layer_norm(f"{hf}.ln_1", f"{ours}.self_attention_norm")
        for part in ("weight", "bias"):
            leaf = "kernel" if part == "weight" else "bias"
            targets = tuple(f"{attention}.{name}.{leaf}" for name in ("query", "key", "value"))
            out.append(Rule(f"{hf}.attn.c_attn.{part}", targets, "split3"))
        out += conv1d(f"{hf}.attn.c_proj", f"{attention}.output")
        out += layer_norm(f"{hf}.ln_2", f"{ours}.feed_forward_norm")
        out += conv1d(f"{hf}.mlp.c_fc", f"{ours}.feed_forward.wi_0")
        out += conv1d(f"{hf}.mlp.c_proj", f"{ours}.feed_forward.wo")
    out += layer_norm("transformer.ln_f", "decoder.final_norm")
    if cfg.tie_embeddings:
        return out, {"lm_head.weight": "transformer.wte.weight"}
    return [*out, linear("lm_head.weight", "lm_head.projection.kernel")], {}
