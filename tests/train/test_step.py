"""Train step semantics: exact accumulation on 8 devices, NaN skipping, deterministic dropout."""

import collections
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlm import parallel
from jaxlm.cli import main
from jaxlm.config import load_config
from jaxlm.models import build_model
from jaxlm.objectives import Objective
from jaxlm.train.optimizer import make_optimizer
from jaxlm.train.session import build_session
from jaxlm.train.step import init_train_state, jit_train_step, make_train_step, split_model
from tests.train.helpers import LM, TINY_MODEL, random_lm_batch, tiny_config

ROWS, LENGTH, PREDICTIONS = 16, 16, 6


def _run(cfg, batch, objective=LM, skip=False):
    graphdef, params, rngs = split_model(build_model(cfg.model, seed=0))
    tx = make_optimizer(cfg.train)
    step = jit_train_step(make_train_step(graphdef, rngs, objective, tx, skip_nonfinite=skip))
    state = init_train_state(params, tx)
    return step(state, batch)


def uneven_mlm_batch(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """MLM + NSP rows whose number of masked positions ranges from 0 to PREDICTIONS, in row order, so
    that every split of the rows gives microbatches of different total weight."""
    counts = np.arange(ROWS) * (PREDICTIONS + 1) // ROWS
    return {
        "inputs": rng.integers(5, 64, (ROWS, LENGTH)).astype(np.int32),
        "token_types": (np.arange(LENGTH) >= LENGTH // 2).astype(np.int32)[None].repeat(ROWS, 0),
        "segments": np.ones((ROWS, LENGTH), np.int32),
        "mlm_positions": rng.integers(1, LENGTH, (ROWS, PREDICTIONS)).astype(np.int32),
        "mlm_targets": rng.integers(5, 64, (ROWS, PREDICTIONS)).astype(np.int32),
        "mlm_weights": (np.arange(PREDICTIONS)[None] < counts[:, None]).astype(np.float32),
        "nsp_labels": rng.integers(0, 2, ROWS).astype(np.int32),
    }


def packed_lm_batch(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Packed causal-LM rows: 1-3 documents each, then padding of 0 to LENGTH - 2 slots (weight 0)."""
    segments = np.zeros((ROWS, LENGTH), np.int32)
    positions = np.zeros((ROWS, LENGTH), np.int32)
    for row in range(ROWS):
        used = 2 + row * (LENGTH - 2) // ROWS
        cuts = np.sort(rng.choice(np.arange(1, used), size=min(2, used - 1), replace=False))
        for doc, (start, end) in enumerate(zip([0, *cuts], [*cuts, used], strict=True), 1):
            segments[row, start:end] = doc
            positions[row, start:end] = np.arange(end - start)
    tokens = rng.integers(5, 64, (ROWS, LENGTH + 1)).astype(np.int32)
    return {"inputs": tokens[:, :-1] * (segments > 0), "targets": tokens[:, 1:] * (segments > 0),
            "segments": segments, "positions": positions, "weights": (segments > 0).astype(np.float32)}


BATCHES = {"bert_tiny": uneven_mlm_batch, "gpt2_tiny": packed_lm_batch}
MICROBATCHES = (1, 2)  # 16 rows over 8 devices: 1 or 2 microbatches keep every device busy


@pytest.fixture(scope="module")
def eight_device_steps():
    """run(preset, microbatches) → (metrics, params, compiled HLO text) of one step on 8 devices (dp)."""
    done = {}

    def run(preset: str, microbatches: int):
        if (preset, microbatches) not in done:
            cfg = load_config(preset, [*TINY_MODEL, f"data.batch_size={ROWS}", f"data.seq_length={LENGTH}",
                                       f"data.max_predictions={PREDICTIONS}", "model.dropout_rate=0.0",
                                       "train.warmup_steps=0", f"train.microbatches={microbatches}"])
            session = build_session(cfg)
            batch = session.put_batch(BATCHES[preset](np.random.default_rng(0)))
            with parallel.use_mesh(session.mesh, session.rules):
                compiled = session.train_step.lower(session.state, batch).compile()
                state, metrics = compiled(session.state, batch)
            done[preset, microbatches] = (jax.device_get(metrics), jax.device_get(state["params"]), compiled.as_text())
        return done[preset, microbatches]

    return run


@pytest.mark.parametrize("preset", list(BATCHES))
def test_any_number_of_microbatches_equals_the_whole_batch(eight_device_steps, preset):
    whole, whole_params, _ = eight_device_steps(preset, 1)
    assert jax.device_count() == 8
    for n in MICROBATCHES[1:]:
        split, split_params, _ = eight_device_steps(preset, n)
        for key in whole:
            np.testing.assert_allclose(split[key], whole[key], rtol=1e-5, err_msg=key)
        for a, b in zip(jax.tree.leaves(whole_params), jax.tree.leaves(split_params), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # Adam moves each weight by ~lr = 1e-3


def collectives(hlo: str) -> collections.Counter:
    """Collective instructions of a compiled module by kind (a loop body's counted once)."""
    kinds = "all-reduce|all-gather|reduce-scatter|all-to-all|collective-permute"
    return collections.Counter(re.findall(rf" ({kinds})(?:-start)?\(", hlo))


@pytest.mark.parametrize("preset", list(BATCHES))
def test_strided_microbatches_add_no_collectives(eight_device_steps, preset):
    whole = collectives(eight_device_steps(preset, 1)[2])
    assert whole["all-reduce"] >= 1  # the gradients' all-reduce is found
    for n in MICROBATCHES[1:]:
        assert collectives(eight_device_steps(preset, n)[2]) == whole


def test_skip_policy_leaves_params_untouched_on_nan_loss():
    cfg = tiny_config("gpt2_tiny", "train.warmup_steps=0")

    def nan_forward(model, batch, deterministic):
        outputs = model(batch["inputs"], deterministic=deterministic)
        return {**outputs, "logits": outputs["logits"] * jnp.nan}

    nan_lm = Objective("nan", nan_forward, LM.terms)
    _, params, _ = split_model(build_model(cfg.model, seed=0))
    before = jax.tree.map(np.asarray, params)
    state, metrics = _run(cfg, random_lm_batch(4, 8, 64), nan_lm, skip=True)
    assert float(metrics["finite"]) == 0.0
    assert int(state["step"]) == 1
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(state["params"]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_dropout_is_a_function_of_the_step():
    cfg = tiny_config("gpt2_tiny", "model.dropout_rate=0.5")
    batch = random_lm_batch(4, 8, 64)
    _, first = _run(cfg, batch)
    _, again = _run(cfg, batch)
    assert float(first["loss"]) == float(again["loss"])


def test_bfloat16_compute_keeps_float32_params_and_loss():
    cfg = tiny_config("gpt2_tiny", "model.dtype=bfloat16")
    state, metrics = _run(cfg, random_lm_batch(4, 8, 64))
    assert metrics["loss"].dtype == jnp.float32 and np.isfinite(float(metrics["loss"]))
    assert {leaf.dtype for leaf in jax.tree.leaves(state["params"])} == {jnp.dtype("float32")}


def test_float16_training_is_refused_with_one_line(tmp_path, capsys):
    assert main(["train", "gpt2_tiny", "model.dtype=float16", f"workdir={tmp_path}", "--no-progress"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: model.dtype=float16") and "bfloat16" in error and "\n" not in error
