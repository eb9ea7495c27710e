"""A tiny encoder–decoder learns to reverse short sequences (greedy decoding, exact match)."""

import time

import jax
import numpy as np
from flax import nnx

from jaxlm.infer.generate import generate
from jaxlm.models import build_model
from jaxlm.objectives import get_objective
from jaxlm.objectives.seq2seq import encoder_decoder_example
from jaxlm.train.optimizer import make_optimizer
from jaxlm.train.step import init_train_state, jit_train_step, make_train_step, split_model
from tests.train.helpers import tiny_config

EOS, FIRST_SYMBOL, SYMBOLS, LENGTH = 3, 7, 12, 8


def reversal_batch(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    examples = []
    for _ in range(rows):
        source = rng.integers(FIRST_SYMBOL, FIRST_SYMBOL + SYMBOLS, size=rng.integers(2, LENGTH - 1))
        examples.append(encoder_decoder_example(
            np.append(source, EOS), np.append(source[::-1], EOS), LENGTH, LENGTH, 0))
    return {key: np.stack([e[key] for e in examples]) for key in examples[0]}


def test_reversal_reaches_95_percent_exact_match():
    started = time.perf_counter()
    cfg = tiny_config(
        "t5_tiny", "model.vocab_size=32", "model.d_model=64", "model.d_ff=128", "model.num_layers=2",
        "model.num_heads=4", "model.dropout_rate=0.0", "model.position=learned", "model.max_length=16",
        "train.learning_rate=3e-3", "train.steps=250",
        "train.warmup_steps=20", "train.weight_decay=0.0",
    )
    graphdef, params, rngs = split_model(build_model(cfg.model, seed=0))
    tx = make_optimizer(cfg.train)
    step = jit_train_step(make_train_step(graphdef, rngs, get_objective("seq2seq"), tx))
    state = init_train_state(params, tx)
    rng = np.random.default_rng(0)
    for _ in range(cfg.train.steps):
        state, metrics = step(state, reversal_batch(rng, 64))
    model = nnx.merge(graphdef, state["params"], rngs)
    test = reversal_batch(np.random.default_rng(1), 200)
    lengths = test["segments"].sum(axis=1)
    out = np.asarray(generate(model, test["inputs"], lengths, max_new_tokens=LENGTH, eos_id=EOS))
    exact = np.mean([np.array_equal(out[i][: LENGTH], test["targets"][i]) for i in range(len(out))])
    print(f"loss {float(jax.device_get(metrics['loss'])):.4f}, exact match {exact:.3f}, "
          f"{time.perf_counter() - started:.1f} s")
    assert exact >= 0.95
