"""Logits of converted models match transformers' on padded batches of odd sizes (float32)."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxlm.interop import from_hf
from tests.interop import helpers
from tests.interop.helpers import TOLERANCE, padded_batch, relative_error, torch_ids

LENGTHS = [13, 9, 5]


@pytest.mark.parametrize("scan_layers", [False, True])
def test_bert_pretraining_mlm_and_nsp_logits_match_transformers(scan_layers):
    hf = helpers.bert("BertForPreTraining")
    _, model = from_hf(hf, scan_layers=scan_layers)
    ids, mask = padded_batch(LENGTHS, 13, seed=1)
    token_types = (np.arange(13)[None, :] >= 6).astype(np.int32) * mask
    with torch.no_grad():
        ref = hf(torch_ids(ids), attention_mask=torch_ids(mask), token_type_ids=torch_ids(token_types))
    out = model(jnp.asarray(ids), segments=jnp.asarray(mask), token_types=jnp.asarray(token_types))
    assert relative_error(out["mlm_logits"], ref.prediction_logits, mask) <= TOLERANCE
    assert relative_error(out["nsp_logits"], ref.seq_relationship_logits) <= TOLERANCE


def test_bert_sequence_classification_logits_match_transformers():
    hf = helpers.bert("BertForSequenceClassification")
    cfg, model = from_hf(hf)
    ids, mask = padded_batch(LENGTHS, 13, seed=2)
    with torch.no_grad():
        ref = hf(torch_ids(ids), attention_mask=torch_ids(mask)).logits
    out = model(jnp.asarray(ids), segments=jnp.asarray(mask))
    assert cfg.num_labels == 5
    assert relative_error(out["class_logits"], ref) <= TOLERANCE


def test_bert_masked_lm_logits_match_transformers():
    hf = helpers.bert("BertForMaskedLM")
    cfg, model = from_hf(hf)
    ids, mask = padded_batch(LENGTHS, 13, seed=3)
    with torch.no_grad():
        ref = hf(torch_ids(ids), attention_mask=torch_ids(mask)).logits
    assert not cfg.pooler and not cfg.nsp_head
    assert relative_error(model(jnp.asarray(ids), segments=jnp.asarray(mask))["mlm_logits"], ref, mask) <= TOLERANCE


@pytest.mark.parametrize(("tied", "scan_layers"), [(True, False), (False, True)])
def test_gpt2_lm_logits_match_transformers(tied, scan_layers):
    hf = helpers.gpt2(tied=tied)
    cfg, model = from_hf(hf, scan_layers=scan_layers)
    ids, mask = padded_batch(LENGTHS, 13, seed=4)
    with torch.no_grad():
        ref = hf(torch_ids(ids), attention_mask=torch_ids(mask)).logits
    out = model(jnp.asarray(ids), segments=jnp.asarray(mask))
    assert cfg.tie_embeddings == tied
    assert relative_error(out["logits"], ref, mask) <= TOLERANCE


@pytest.mark.parametrize("variant", helpers.T5_VARIANTS)
def test_t5_decoder_logits_match_transformers(variant):
    hf = helpers.t5(variant)
    cfg, model = from_hf(hf, scan_layers=variant == "v1.1")
    ids, mask = padded_batch([23, 17, 8], 23, seed=5)
    targets, target_mask = padded_batch([11, 6, 9], 11, seed=6)
    with torch.no_grad():
        ref = hf(input_ids=torch_ids(ids), attention_mask=torch_ids(mask), decoder_input_ids=torch_ids(targets),
                 decoder_attention_mask=torch_ids(target_mask)).logits
    out = model(jnp.asarray(ids), jnp.asarray(targets), segments=jnp.asarray(mask),
                decoder_segments=jnp.asarray(target_mask))
    assert (cfg.gated, cfg.tie_embeddings) == {"v1.0": (False, True), "v1.1": (True, False),
                                               "v1.1-tied": (True, True)}[variant]
    assert relative_error(out["logits"], ref, target_mask) <= TOLERANCE


def test_parity_check_catches_a_wrong_weight():
    hf = helpers.gpt2()
    _, model = from_hf(hf)
    bias = model.decoder.layers[1].feed_forward_norm.bias
    bias[...] = bias[...] + 0.05
    ids, mask = padded_batch(LENGTHS, 13, seed=4)
    with torch.no_grad():
        ref = hf(torch_ids(ids), attention_mask=torch_ids(mask)).logits
    assert relative_error(model(jnp.asarray(ids), segments=jnp.asarray(mask))["logits"], ref, mask) > TOLERANCE
