"""Shared by the parallel tests and the multi-process worker: tiny configs per family, a
deterministic global batch per step, a loss per family, and a sharded training run built only
from the public APIs (`jaxlm.parallel` + `jaxlm.train.step`)."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import jax
import numpy as np

from jaxlm import parallel
from jaxlm.config import CheckpointConfig, Config, load_config
from jaxlm.objectives import Objective, Term
from jaxlm.train.checkpoint import Checkpointer, abstract_state
from jaxlm.train.optimizer import make_optimizer
from jaxlm.train.step import init_train_state, jit_train_step, make_train_step, split_model

PRESETS = {"encoder": "bert_tiny", "decoder": "gpt2_tiny", "encoder_decoder": "t5_tiny"}

TINY = (
    "model.vocab_size=256", "model.d_model=64", "model.num_heads=4", "model.d_ff=128",
    "model.num_layers=1", "model.max_length=32", "data.batch_size=8",
    "train.steps=20", "train.warmup_steps=0", "train.learning_rate=0.003",
)

# Mesh overrides per strategy on 8 devices; every axis of the mesh is exercised somewhere.
STRATEGY_MESH: dict[str, tuple[str, ...]] = {
    "dp": (),                                            # data=8
    "fsdp": (),                                          # fsdp=8
    "tp": ("parallel.data=2",),                          # data=2, tensor=4
    "dp_tp": ("parallel.tensor=2",),                     # data=4, tensor=2
    "fsdp_tp": ("parallel.data=2", "parallel.tensor=2"),  # data=2, fsdp=2, tensor=2
}

# The dimensions that split sequences and layer stacks, alone and with fsdp/tp, each as
# (strategy, overrides) on 8 devices. They run a scanned 2-layer stack (stages split it)
# without dropout: pipeline microbatches and the context devices' token order draw different
# (equally valid) dropout masks than one device does.
SPLIT_MODEL = ("model.num_layers=2", "model.scan_layers=true", "model.dropout_rate=0")
SPLIT_LAYOUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # one new dimension beside data parallelism (sequence parallelism needs tensor)
    "context_ring": ("dp", ("parallel.context=2",)),                                          # data=4, context=2
    "context_all_gather": ("dp", ("parallel.context=4", "parallel.context_attention=all_gather")),  # data=2, context=4
    "sequence_tp": ("tp", ("parallel.data=2", "parallel.sequence_parallel=true")),           # data=2, tensor=4
    "stage": ("dp", ("parallel.stage=2", "parallel.pipeline_microbatches=2")),               # data=4, stage=2
    # with fsdp/tp and with each other
    "context_sequence_fsdp_tp": ("fsdp_tp", ("parallel.context=2", "parallel.tensor=2",
                                             "parallel.sequence_parallel=true")),   # fsdp=2, context=2, tensor=2
    "stage_fsdp_tp": ("fsdp_tp", ("parallel.stage=2", "parallel.tensor=2",
                                  "parallel.pipeline_microbatches=2")),             # stage=2, fsdp=2, tensor=2
    "stage_sequence_tp": ("dp_tp", ("parallel.stage=2", "parallel.tensor=2", "parallel.sequence_parallel=true",
                                    "parallel.pipeline_microbatches=2")),           # data=2, stage=2, tensor=2
    "stage_context_sequence_tp": ("dp_tp", ("parallel.stage=2", "parallel.context=2", "parallel.sequence_parallel=true",
                                            "parallel.pipeline_microbatches=2")),  # stage=2, context=2, tensor=2
}

SEQ, TARGET, PREDICTIONS = 16, 8, 4


def tiny_config(family: str, strategy: str = "dp", extra: Sequence[str] = ()) -> Config:
    """A tiny float32 model of `family` with the mesh overrides of `strategy`."""
    overrides = [*TINY, f"parallel.strategy={strategy}", *STRATEGY_MESH[strategy], *extra]
    return load_config(PRESETS[family], overrides)


def split_config(family: str, layout: str | None = None) -> Config:
    """The scanned, dropout-free tiny model of `family` on one of SPLIT_LAYOUTS (None: plain dp)."""
    strategy, overrides = SPLIT_LAYOUTS[layout] if layout else ("dp", ())
    return tiny_config(family, strategy, [*SPLIT_MODEL, *overrides])


def global_batch(cfg: Config, step: int) -> dict[str, np.ndarray]:
    """The whole batch of `step`, the same in every process (rows are sliced per process)."""
    rng = np.random.default_rng(1000 + step)
    b, v = cfg.data.batch_size, cfg.model.vocab_size
    ids = lambda *shape: rng.integers(1, v, shape).astype(np.int32)  # noqa: E731
    if cfg.model.family == "encoder":
        return {
            "inputs": ids(b, SEQ), "token_types": (np.arange(SEQ) >= SEQ // 2).astype(np.int32)[None].repeat(b, 0),
            "mlm_positions": rng.integers(0, SEQ, (b, PREDICTIONS)).astype(np.int32),
            "mlm_targets": ids(b, PREDICTIONS), "nsp_labels": rng.integers(0, 2, (b,)).astype(np.int32),
        }
    if cfg.model.family == "decoder":
        return {"inputs": ids(b, SEQ), "targets": ids(b, SEQ)}
    return {"inputs": ids(b, SEQ), "decoder_inputs": ids(b, TARGET), "targets": ids(b, TARGET)}


def process_rows(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """This process's contiguous slice of the global batch."""
    n, i = jax.process_count(), jax.process_index()
    return {k: np.split(v, n)[i] for k, v in batch.items()}


def _forward(model, batch, deterministic: bool) -> dict:
    family = model.config.family
    if family == "encoder":
        return model(batch["inputs"], token_types=batch["token_types"], mlm_positions=batch["mlm_positions"],
                     deterministic=deterministic)
    if family == "decoder":
        return model(batch["inputs"], deterministic=deterministic)
    return model(batch["inputs"], batch["decoder_inputs"], deterministic=deterministic)


# Mean token cross-entropy of the family's main head (plus NSP for the encoder): the terms whose
# logits the model outputs.
OBJECTIVE = Objective("harness", _forward, (
    Term("mlm_loss", "mlm_accuracy", "mlm_logits", "mlm_targets"),
    Term("nsp_loss", "nsp_accuracy", "nsp_logits", "nsp_labels"),
    Term("token_loss", "token_accuracy", "logits", "targets"),
))


class ShardedRun:
    """A model, its train state and a jitted step on `cfg.parallel`'s mesh over `devices`."""

    def __init__(self, cfg: Config, devices: Sequence[jax.Device] | None = None, seed: int = 0):
        self.cfg = cfg
        self.mesh = parallel.make_mesh(cfg.parallel, devices)
        parallel.check_divisibility(cfg, self.mesh)
        self.rules = parallel.rules_for(cfg.parallel.strategy, sequence_parallel=cfg.parallel.sequence_parallel)
        self.hooks = parallel.execution_hooks(cfg.parallel, self.mesh)
        model = parallel.create_sharded_model(cfg.model, self.mesh, self.rules, seed)
        graphdef, params, rngs = split_model(model)
        tx = make_optimizer(cfg.train)
        shapes = jax.eval_shape(lambda p: init_train_state(p, tx), params)
        self.shardings = parallel.state_shardings(shapes, self.mesh, self.rules)
        self.abstract = abstract_state(shapes, self.shardings)
        self.state = jax.jit(lambda p: init_train_state(p, tx), out_shardings=self.shardings)(params)
        step = make_train_step(graphdef, rngs, OBJECTIVE, tx)
        self.step_fn = jit_train_step(step, self.shardings, parallel.batch_sharding(self.mesh))

    def train(self, steps: Sequence[int]) -> list[float]:
        """Run the given (0-based) steps on their global batches; the losses."""
        losses = []
        for step in steps:
            batch = parallel.shard_batch(process_rows(global_batch(self.cfg, step)), self.mesh)
            with parallel.use_mesh(self.mesh, self.rules, self.hooks):
                self.state, metrics = self.step_fn(self.state, batch)
            losses.append(float(metrics["loss"]))
        return losses

    def checkpointer(self, directory: str | pathlib.Path) -> Checkpointer:
        return Checkpointer(directory, CheckpointConfig(keep=2, async_save=False, metric=""))

    def save(self, directory: str | pathlib.Path, step: int) -> None:
        ckpt = self.checkpointer(directory)
        ckpt.save(step, self.state, {"step": step}, self.cfg.to_dict())
        ckpt.close()

    def restore(self, directory: str | pathlib.Path) -> int:
        """Load the newest checkpoint onto this run's mesh; its step."""
        ckpt = self.checkpointer(directory)
        step, self.state, _, _ = ckpt.restore(self.abstract, self.cfg)
        ckpt.close()
        return step
