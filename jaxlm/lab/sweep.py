"""The sweep: every strategy × mesh of one config, compiled, predicted, compared, and run when asked.

    results = sweep(config, overrides, strategies, meshes, steps, hardware)

A mesh is `axis=size,...` over the config's mesh axes (`data=2,fsdp=2,tensor=2`,
`data=2,context=2,tensor=2`, `stage=2,data=4`), tried with every strategy, or
`strategy:axis=size,...` (`fsdp_tp:fsdp=32,tensor=8`), tried with that one only; the word `sp`
among the sizes (`tp:data=4,tensor=2,sp`) turns on sequence parallelism for that mesh; sizes
that do not multiply to the device count fill through the config's own rules (-1 takes the
rest). A strategy no mesh applies to keeps the mesh of the config and its overrides when they
size an axis (`parallel.tensor=4`), else gets its default: its own axis fills the devices, and
the tensor strategies take tensor = the largest power of two up to 8 dividing the heads, d_ff
and the devices (2 for dp_tp and fsdp_tp, whose other axis fills). A combination the config rejects
becomes a skipped row with the one-line reason.

Rows run interleaved: after everything has compiled, each round runs one step of every row that
executes, so machine load affects all rows alike; a row executes only while the memory of the
rows before it plus its own fits in the devices (host RAM for CPU devices).
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
import time
from collections.abc import Sequence

import jax
import tqdm

from jaxlm import parallel
from jaxlm.config import Config, load_config
from jaxlm.config.parallel import MESH_AXES
from jaxlm.errors import JaxlmError
from jaxlm.lab.batch import abstract_batch
from jaxlm.lab.hardware import Hardware, profile_of_device
from jaxlm.lab.layout import Layout, make_layout
from jaxlm.lab.measure import CompiledStep, compile_step, prepare_execution
from jaxlm.lab.memory import MemoryPrediction, predict_memory
from jaxlm.lab.roofline import Roofline, executed_flops, hbm_bytes, roofline
from jaxlm.lab.traffic import Traffic, by_kind, predict_traffic
from jaxlm.train.flops import peak_flops, train_flops

GAP = 0.10


def human_bytes(value: float | None) -> str:
    """1234567 → '1.23 MB'."""
    if value is None:
        return "–"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} B"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One predicted figure beside its measurement; flagged when they differ by more than 10 %.

    A note says why they differ and leaves the flag standing. Only a figure that is not
    `comparable` (measured on another device than predicted for, or counted by XLA in another way)
    has no gap to flag; its note says why.
    """

    name: str
    predicted: float | None
    measured: float | None
    note: str = ""
    comparable: bool = True

    @property
    def gap(self) -> float | None:
        if not self.comparable or self.predicted is None or self.measured is None:
            return None
        if self.measured == 0:
            return 0.0 if self.predicted == 0 else math.inf
        return (self.predicted - self.measured) / self.measured

    @property
    def flagged(self) -> bool:
        return self.gap is not None and abs(self.gap) > GAP


@dataclasses.dataclass
class Result:
    """One strategy × mesh: what was compiled, predicted, and (maybe) run."""

    strategy: str
    mesh_spec: str
    skipped: str = ""
    mesh: dict[str, int] = dataclasses.field(default_factory=dict)
    compiled: CompiledStep | None = None
    layout: Layout | None = None
    memory: MemoryPrediction | None = None
    traffic: list[Traffic] = dataclasses.field(default_factory=list)
    model_flops: float = 0.0
    roofline: Roofline | None = None
    not_executed: str = ""
    step_seconds: list[float] = dataclasses.field(default_factory=list)
    peak_flops: float | None = None

    @property
    def sequence_parallel(self) -> bool:
        return self.compiled is not None and self.compiled.cfg.parallel.sequence_parallel

    @property
    def executed(self) -> bool:
        return bool(self.step_seconds)

    @property
    def step_time(self) -> float | None:
        return statistics.median(self.step_seconds) if self.step_seconds else None

    @property
    def tokens(self) -> int:
        shapes = abstract_batch(self.compiled.cfg, None)
        return sum(math.prod(shapes[k].shape) for k in ("inputs", "decoder_inputs") if k in shapes)

    @property
    def measured_mfu(self) -> float | None:
        if not self.executed or not self.peak_flops:
            return None
        return self.model_flops / self.layout.devices / self.step_time / self.peak_flops

    def comparisons(self, hardware: Hardware) -> list[Comparison]:
        """Every predicted figure beside its measurement."""
        compiled, memory = self.compiled, self.memory
        measured_state = compiled.memory["arguments"] - memory.batch
        rows = [
            Comparison("state bytes/device", memory.state, measured_state),
            Comparison("temporaries bytes/device", memory.working, compiled.memory["temporaries"],
                       "activations are an estimate; XLA also keeps gathered weights and fusion scratch"),
        ]
        predicted = by_kind(self.traffic)
        for kind, figures in compiled.collectives.by_kind().items():
            if figures["bytes"] or predicted[kind]:
                note = "no rule predicts this kind here" if figures["bytes"] and not predicted[kind] else ""
                rows.append(Comparison(f"{kind} bytes/device", predicted[kind], figures["bytes"], note))
        loops = "XLA counts a while body once" if compiled.cfg.model.scan_layers else ""
        unfused = "XLA:CPU counts every unfused operand" if self.layout.platform == "cpu" else ""
        rows.append(Comparison("FLOPs/device", executed_flops(self.layout, self.model_flops), compiled.flops,
                               loops, comparable=not loops))
        counted = "; ".join(filter(None, (loops, unfused)))
        rows.append(Comparison("HBM bytes/device", hbm_bytes(self.layout, memory), compiled.bytes_accessed,
                               counted, comparable=not counted))
        if self.executed:
            same_device = profile_of_device(jax.devices()[0].device_kind) == hardware
            note = "" if same_device else f"measured on {jax.devices()[0].device_kind}, predicted for {hardware.name}"
            rows.append(Comparison("step seconds", self.roofline.step_seconds, self.step_time, note, same_device))
            rows.append(Comparison("MFU", self.roofline.mfu, self.measured_mfu, note, same_device))
        return rows


def default_mesh(cfg: Config, strategy: str, devices: int) -> list[str]:
    """Mesh overrides for `strategy` when none are given (module docstring)."""
    if strategy not in ("tp", "dp_tp", "fsdp_tp"):
        return []
    if strategy != "tp":
        return ["parallel.tensor=2"]
    divides = math.gcd(cfg.model.num_heads, cfg.model.d_ff, devices)
    tensor = max(t for t in (1, 2, 4, 8) if divides % t == 0)
    return [f"parallel.tensor={tensor}", "parallel.data=-1"]


def _sets_mesh(overrides: Sequence[str]) -> bool:
    """Whether the user's overrides size mesh axes (then no default mesh replaces them)."""
    keys = {f"parallel.{axis}" for axis in MESH_AXES}
    return any(override.partition("=")[0].strip() in keys for override in overrides)


def split_spec(spec: str) -> tuple[str | None, str]:
    """'fsdp_tp:fsdp=4,tensor=2' → ('fsdp_tp', 'fsdp=4,tensor=2'); 'data=8' → (None, 'data=8')."""
    strategy, sep, mesh = spec.rpartition(":")
    if sep and strategy not in parallel.STRATEGIES:
        raise JaxlmError(f"--meshes {spec!r}: {strategy!r} is not one of {', '.join(parallel.STRATEGIES)}")
    return (strategy or None), mesh


def mesh_overrides(spec: str) -> list[str]:
    """'data=2,tensor=4,sp' → ['parallel.data=2', 'parallel.tensor=4', 'parallel.sequence_parallel=true'];
    JaxlmError naming a bad axis."""
    overrides = []
    for part in filter(None, (p.strip() for p in split_spec(spec)[1].split(","))):
        if part == "sp":
            overrides.append("parallel.sequence_parallel=true")
            continue
        axis, sep, size = part.partition("=")
        if not sep or axis not in MESH_AXES:
            raise JaxlmError(f"--meshes {spec!r}: '{part}' is not axis=size with axis one of "
                             f"{', '.join(MESH_AXES)}, nor sp (sequence parallelism)")
        overrides.append(f"parallel.{axis}={size}")
    return overrides


def _compile_row(config: str, overrides: Sequence[str], strategy: str, spec: str | None,
                 hardware: Hardware) -> Result:
    result = Result(strategy, spec or "default")
    try:
        base = load_config(config, [*overrides, f"parallel.strategy={strategy}"])
        if spec is not None:
            mesh = mesh_overrides(spec)
        elif _sets_mesh(overrides):
            mesh = []
        else:
            mesh = default_mesh(base, strategy, jax.device_count())
        cfg = load_config(config, [*overrides, f"parallel.strategy={strategy}", *mesh])
        compiled = compile_step(cfg)
    except JaxlmError as error:
        result.skipped = str(error)
        return result
    sizes = parallel.mesh_sizes(compiled.mesh)
    layout = make_layout(cfg, compiled.abstract_params, compiled.rules, sizes, jax.default_backend())
    result.mesh, result.compiled, result.layout = sizes, compiled, layout
    result.memory = predict_memory(layout)
    result.traffic = predict_traffic(layout)
    result.model_flops = train_flops(cfg.model, abstract_batch(cfg, None))
    target = dataclasses.replace(layout, platform="tpu" if hardware.name.startswith("tpu") else "gpu")
    result.roofline = roofline(target, result.model_flops, result.memory, predict_traffic(target), hardware)
    return result


def _device_memory() -> float:
    """Bytes the rows may use on one device: its memory limit, or for CPU devices the host's RAM
    shared by all of them (half of it, leaving room for everything else)."""
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and stats.get("bytes_limit"):
        return float(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 / jax.device_count()


def _execute(results: list[Result], steps: int, progress: bool) -> None:
    capacity, used, ready = _device_memory(), 0.0, []
    for result in results:
        if result.skipped:
            continue
        if steps <= 0:
            result.not_executed = "compile only (--steps 0)"
            continue
        need = result.compiled.memory["total"]
        if used + need > capacity:
            result.not_executed = (f"compile only: needs {human_bytes(need)} per device beside {human_bytes(used)} "
                                   f"for the rows before it; {human_bytes(capacity)} available")
            continue
        used += need
        ready.append(result)
    executions = [prepare_execution(result.compiled) for result in ready]
    bar = tqdm.tqdm(total=steps * len(ready), desc="run", disable=not progress or not ready, dynamic_ncols=True)
    for _ in range(steps):
        for result, execution in zip(ready, executions, strict=True):
            result.step_seconds.append(execution.run(1))
            bar.update()
    bar.close()
    peak = peak_flops(jax.devices()[0])  # the train loop's table: also devices without a profile (L4)
    for result in ready:
        result.peak_flops = peak


def sweep(
    config: str, overrides: Sequence[str], strategies: Sequence[str], meshes: Sequence[str] | None,
    steps: int, hardware: Hardware, progress: bool = True,
) -> list[Result]:
    """Compile, predict and (for `steps` > 0) run every strategy × mesh; see the module docstring."""
    unknown = [s for s in strategies if s not in parallel.STRATEGIES]
    if unknown:
        raise JaxlmError(f"--strategies: {', '.join(unknown)} not one of {', '.join(parallel.STRATEGIES)}")
    for spec in meshes or ():
        mesh_overrides(spec)
    combos = []
    for strategy in strategies:
        own = [spec for spec in meshes or () if split_spec(spec)[0] in (None, strategy)]
        combos += [(strategy, spec) for spec in own or [None]]
    results = []
    bar = tqdm.tqdm(combos, desc="compile", disable=not progress, dynamic_ncols=True)
    for strategy, spec in bar:
        bar.set_postfix_str(f"{strategy} {spec or ''}".strip())
        started = time.perf_counter()
        results.append(_compile_row(config, overrides, strategy, spec, hardware))
        bar.set_postfix_str(f"{strategy} {time.perf_counter() - started:.1f}s")
    _execute(results, steps, progress)
    return results
