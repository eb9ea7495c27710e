"""The model section: one vocabulary that spells BERT, GPT-2 and T5 (v1.0 and v1.1) exactly."""

from __future__ import annotations

import dataclasses
from typing import Literal

from jaxlm.config.schema import require

Family = Literal["encoder", "decoder", "encoder_decoder"]
Position = Literal["learned", "sinusoidal", "rotary", "relative"]
Activation = Literal["relu", "gelu", "gelu_tanh", "silu"]
AttentionImpl = Literal["reference", "xla", "cudnn"]
Remat = Literal["none", "full", "dots", "dots_no_batch"]
DType = Literal["float32", "bfloat16", "float16"]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters.

    family: encoder (BERT), decoder (GPT) or encoder_decoder (T5).
    head_dim: 0 means d_model // num_heads. num_decoder_layers: 0 means num_layers.
    max_length: size of the learned position table and the longest sequence decoded.
    norm_position: 'post' is BERT's x = norm(x + f(x)); 'pre' is GPT/T5's x = x + f(norm(x)).
    embed_norm: a norm right after the embedding sum (BERT). final_norm: one after the last block.
    gated: the feed-forward is act(x W0) * (x W1) (GeGLU with gelu_tanh, SwiGLU with silu).
    scale_attention: divide scores by sqrt(head_dim) (False for T5).
    scale_tied_logits: multiply the last hidden state by d_model**-0.5 before the tied
        output projection (T5 v1.0).
    pooler / mlm_head / nsp_head / num_labels: encoder heads (BERT pretraining, classification).
    attention_impl: 'reference' (einsum + softmax; has attention dropout and can record the
        weights), 'xla' (jax.nn.dot_product_attention), 'cudnn' (its fused GPU kernel).
    init: 'fixed' draws every weight from N(0, init_std²) (BERT, GPT-2); 'fan_in' scales each
        matrix by its fan-in as T5 does, init_std then being T5's initializer_factor (jaxlm/nn/init.py).
    """

    family: Family
    vocab_size: int
    d_model: int
    num_heads: int
    d_ff: int
    num_layers: int
    head_dim: int = 0
    num_decoder_layers: int = 0
    max_length: int = 512
    position: Position = "learned"
    relative_buckets: int = 32
    relative_max_distance: int = 128
    rotary_base: float = 10000.0
    type_vocab_size: int = 0
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    norm_eps: float = 1e-5
    norm_position: Literal["pre", "post"] = "pre"
    embed_norm: bool = False
    final_norm: bool = True
    activation: Activation = "gelu"
    gated: bool = False
    use_bias: bool = True
    scale_attention: bool = True
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.0
    tie_embeddings: bool = True
    scale_tied_logits: bool = False
    pooler: bool = False
    mlm_head: bool = False
    nsp_head: bool = False
    num_labels: int = 0
    attention_impl: AttentionImpl = "xla"
    scan_layers: bool = False
    remat: Remat = "none"
    dtype: DType = "float32"
    param_dtype: Literal["float32", "bfloat16"] = "float32"
    init: Literal["fixed", "fan_in"] = "fixed"
    init_std: float = 0.02
    pad_id: int = 0

    @property
    def resolved_head_dim(self) -> int:
        return self.head_dim or self.d_model // self.num_heads

    @property
    def resolved_decoder_layers(self) -> int:
        return self.num_decoder_layers or self.num_layers

    def validate(self, prefix: str = "model") -> None:
        for name in ("vocab_size", "d_model", "num_heads", "d_ff", "num_layers", "max_length"):
            require(getattr(self, name) > 0, f"{prefix}.{name}", "must be positive")
        for name in ("head_dim", "num_decoder_layers", "type_vocab_size", "num_labels"):
            require(getattr(self, name) >= 0, f"{prefix}.{name}", "must be >= 0")
        if not self.head_dim:
            require(
                self.d_model % self.num_heads == 0, f"{prefix}.num_heads",
                f"{self.num_heads} heads do not divide d_model={self.d_model}; "
                "pick a divisor or set model.head_dim",
            )
        for name in ("dropout_rate", "attention_dropout_rate"):
            require(0.0 <= getattr(self, name) < 1.0, f"{prefix}.{name}", "must be in [0, 1)")
        require(self.norm_eps > 0, f"{prefix}.norm_eps", "must be positive")
        require(self.init_std > 0, f"{prefix}.init_std", "must be positive")
        require(0 <= self.pad_id < self.vocab_size, f"{prefix}.pad_id", "must be a token id below vocab_size")
        if self.position == "rotary":
            require(self.resolved_head_dim % 2 == 0, f"{prefix}.head_dim", "rotary positions need an even head_dim")
            require(self.rotary_base > 0, f"{prefix}.rotary_base", "must be positive")
        if self.position == "sinusoidal":
            require(self.d_model % 2 == 0, f"{prefix}.d_model", "sinusoidal positions need an even d_model")
        if self.position == "relative":
            require(
                self.relative_buckets >= 4, f"{prefix}.relative_buckets",
                "must be >= 4 (bidirectional buckets split in two halves, each with exact and log ranges)",
            )
            require(
                self.relative_max_distance > self.relative_buckets // 2, f"{prefix}.relative_max_distance",
                f"must exceed relative_buckets // 2 = {self.relative_buckets // 2}, the distances bucketed exactly",
            )
        require(
            self.attention_dropout_rate == 0.0 or self.attention_impl == "reference",
            f"{prefix}.attention_dropout_rate",
            f"attention_impl={self.attention_impl} has no attention dropout; "
            "set model.attention_impl=reference or model.attention_dropout_rate=0",
        )
        encoder_heads = self.pooler or self.mlm_head or self.nsp_head or self.num_labels
        require(
            self.family == "encoder" or not encoder_heads, f"{prefix}.family",
            "pooler, mlm_head, nsp_head and num_labels are encoder heads; set model.family=encoder",
        )
        require(
            self.pooler or not (self.nsp_head or self.num_labels), f"{prefix}.pooler",
            "nsp_head and num_labels read the pooled [CLS] state; set model.pooler=true",
        )
        require(
            not self.scale_tied_logits or self.tie_embeddings, f"{prefix}.scale_tied_logits",
            "only applies to a tied output projection; set model.tie_embeddings=true",
        )
