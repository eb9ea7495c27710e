import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm.errors import JaxlmError
from jaxlm.objectives import get_objective


def log_softmax(x):
    x = np.asarray(x, np.float64)
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)


LOGITS = np.array([[[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], [[1.0, 1.0, 1.0], [-2.0, 4.0, 0.0]]], np.float32)
TARGETS = np.array([[0, 1], [2, 1]], np.int32)
WEIGHTS = np.array([[1.0, 1.0], [1.0, 0.0]], np.float32)


def hand_weighted_nll(logits, targets, weights):
    nll = -np.take_along_axis(log_softmax(logits), targets[..., None], -1)[..., 0]
    return (weights * nll).sum() / weights.sum()


def test_token_loss_is_weighted_mean_nll_with_accuracy_and_perplexity():
    batch = {"targets": TARGETS, "weights": WEIGHTS}
    objective = get_objective("causal_lm")
    loss, pairs = objective.loss_from_outputs({"logits": jnp.asarray(LOGITS)}, batch)
    metrics = objective.finalize(pairs)
    expected = hand_weighted_nll(LOGITS, TARGETS, WEIGHTS)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    assert float(metrics["loss"]) == float(loss)
    np.testing.assert_allclose(float(metrics["token_accuracy"]), 1 / 3, rtol=1e-6)  # only [0,0] is right
    np.testing.assert_allclose(float(metrics["perplexity"]), np.exp(expected), rtol=1e-5)
    assert loss.dtype == jnp.float32


def test_mlm_nsp_loss_sums_weighted_mlm_and_mean_nsp():
    nsp_logits = np.array([[0.3, -0.2], [1.5, 2.5]], np.float32)
    nsp_labels = np.array([1, 1], np.int32)
    batch = {"mlm_targets": TARGETS, "mlm_weights": WEIGHTS, "nsp_labels": nsp_labels}
    outputs = {"mlm_logits": jnp.asarray(LOGITS), "nsp_logits": jnp.asarray(nsp_logits)}
    objective = get_objective("mlm_nsp")
    loss, pairs = objective.loss_from_outputs(outputs, batch)
    metrics = objective.finalize(pairs)
    mlm = hand_weighted_nll(LOGITS, TARGETS, WEIGHTS)
    nsp = -np.mean(log_softmax(nsp_logits)[np.arange(2), nsp_labels])
    np.testing.assert_allclose(float(metrics["mlm_loss"]), mlm, rtol=1e-5)
    np.testing.assert_allclose(float(metrics["nsp_loss"]), nsp, rtol=1e-5)
    np.testing.assert_allclose(float(loss), mlm + nsp, rtol=1e-5)
    np.testing.assert_allclose(float(metrics["loss"]), mlm + nsp, rtol=1e-5)
    assert float(metrics["nsp_accuracy"]) == 0.5


def test_mlm_loss_with_no_predictions_is_zero_not_nan():
    batch = {"mlm_targets": TARGETS, "mlm_weights": np.zeros_like(WEIGHTS)}
    loss, _ = get_objective("mlm_nsp").loss_from_outputs({"mlm_logits": jnp.asarray(LOGITS)}, batch)
    assert float(loss) == 0.0


def test_classification_loss_and_accuracy():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]], np.float32)
    labels = np.array([0, 0, 0], np.int32)
    objective = get_objective("classification")
    loss, pairs = objective.loss_from_outputs({"class_logits": jnp.asarray(logits)}, {"labels": labels})
    metrics = objective.finalize(pairs)
    np.testing.assert_allclose(float(loss), -np.mean(log_softmax(logits)[:, 0]), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["accuracy"]), 2 / 3, rtol=1e-6)


def test_a_microbatch_normalised_by_the_whole_batch_weights_adds_up_to_the_whole_batch():
    """Rows with 2 and 1 weighted targets: the halves' losses, each divided by the whole W = 3,
    sum to the whole batch's loss, and their summed pairs give the whole batch's metrics."""
    objective = get_objective("mlm_nsp")
    nsp_logits = np.array([[0.3, -0.2], [1.5, 2.5]], np.float32)
    batch = {"mlm_targets": TARGETS, "mlm_weights": WEIGHTS, "nsp_labels": np.array([1, 0], np.int32)}
    outputs = {"mlm_logits": jnp.asarray(LOGITS), "nsp_logits": jnp.asarray(nsp_logits)}
    whole, whole_pairs = objective.loss_from_outputs(outputs, batch)
    weights = objective.weights(batch)
    assert {k: float(v) for k, v in weights.items()} == {"mlm_loss": 3.0, "nsp_loss": 2.0}
    halves = [objective.loss_from_outputs({k: v[i : i + 1] for k, v in outputs.items()},
                                          {k: v[i : i + 1] for k, v in batch.items()}, weights) for i in range(2)]
    np.testing.assert_allclose(float(halves[0][0] + halves[1][0]), float(whole), rtol=1e-6)
    summed = {k: (halves[0][1][k][0] + halves[1][1][k][0], halves[0][1][k][1] + halves[1][1][k][1])
              for k in whole_pairs}
    for key, value in objective.finalize(whole_pairs).items():
        np.testing.assert_allclose(float(objective.finalize(summed)[key]), float(value), rtol=1e-6)


def test_loss_runs_the_forward_pass_with_the_batch_keys():
    seen = {}

    def model(inputs, decoder_inputs, **kwargs):
        seen.update(kwargs, inputs=inputs, decoder_inputs=decoder_inputs)
        return {"logits": jnp.asarray(LOGITS)}

    batch = {"inputs": 1, "segments": 2, "positions": 3, "decoder_inputs": 4, "decoder_segments": 5,
             "decoder_positions": 6, "targets": TARGETS, "weights": WEIGHTS}
    get_objective("span_corruption").loss(model, batch, deterministic=True)
    assert seen == {"inputs": 1, "decoder_inputs": 4, "segments": 2, "positions": 3, "decoder_segments": 5,
                    "decoder_positions": 6, "deterministic": True, "packed": False}


def test_unknown_objective_is_an_error():
    with pytest.raises(JaxlmError, match=r"data.objective: 'mlm' is not one of"):
        get_objective("mlm")
