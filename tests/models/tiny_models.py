"""Tiny variants of every architecture the presets spell, for fast model tests."""

from __future__ import annotations

from jaxlm.config import ModelConfig, load_config

TINY = ("model.d_model=16", "model.num_heads=2", "model.d_ff=32", "model.num_layers=2",
        "model.vocab_size=61", "model.max_length=32")

# variant → (preset, overrides on top of TINY); the tiny presets use the 'xla' attention core, so
# one variant per family switches to 'reference'.
VARIANTS = {
    "gpt2": ("gpt2_tiny", ()),
    "rotary_swiglu": ("gpt2_tiny", ("model.position=rotary", "model.norm=rmsnorm", "model.activation=silu",
                                    "model.gated=true", "model.use_bias=false", "model.tie_embeddings=false",
                                    "model.attention_impl=reference")),
    "bert": ("bert_tiny", ("model.num_labels=3",)),
    "rotary_encoder": ("bert_tiny", ("model.position=rotary", "model.type_vocab_size=0", "model.norm_position=pre",
                                     "model.final_norm=true", "model.nsp_head=false")),
    "t5": ("t5_tiny", ()),
    "t5_v1_1": ("t5_tiny", ("model.activation=gelu_tanh", "model.gated=true", "model.tie_embeddings=false",
                            "model.scale_tied_logits=false", "model.num_decoder_layers=3",
                            "model.attention_impl=reference")),
}
ENCODERS = ["bert", "rotary_encoder"]
DECODERS = ["gpt2", "rotary_swiglu"]
ENCODER_DECODERS = ["t5", "t5_v1_1"]


def tiny_config(variant: str, *overrides: str) -> ModelConfig:
    preset, extra = VARIANTS[variant]
    return load_config(preset, [*TINY, *extra, *overrides]).model
