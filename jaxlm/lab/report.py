"""The sweep's results as a markdown report and a JSON file with every figure, versions and devices."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import pathlib
import platform
import sys
from collections.abc import Sequence

import flax
import jax
import numpy as np

from jaxlm.config.parallel import MESH_AXES
from jaxlm.lab.hardware import Hardware
from jaxlm.lab.sweep import Comparison, Result, human_bytes
from jaxlm.lab.traffic import by_kind

TOP_COLLECTIVES = 20


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1e-3:
        return f"{value * 1e6:.3g} µs"
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"


def _figure(comparison: Comparison, value: float | None) -> str:
    if value is None:
        return "–"
    if "bytes" in comparison.name:
        return human_bytes(value)
    if "seconds" in comparison.name:
        return _seconds(value)
    if comparison.name == "MFU":
        return f"{100 * value:.1f} %"
    return f"{value:.3g}"


def _gap(comparison: Comparison) -> str:
    gap = comparison.gap
    if not comparison.comparable:
        return "not comparable"
    if gap is None:
        return "–"
    text = "inf" if math.isinf(gap) else f"{100 * gap:+.1f} %"
    return f"**{text} ⚑**" if comparison.flagged else text


def _name(result: Result) -> str:
    """'fsdp_tp fsdp4×tensor2 +SP': the strategy and the axes it splits over."""
    mesh = "×".join(f"{axis}{size}" for axis, size in result.mesh.items() if size > 1) or "1 device"
    return f"{result.strategy} {mesh}{' +SP' if result.sequence_parallel else ''}"


def _mesh(result: Result) -> str:
    """Every axis of the mesh in MESH_AXES order ('4×1×1×1×2'), '+SP' under sequence parallelism."""
    return "×".join(str(size) for size in result.mesh.values()) + (" +SP" if result.sequence_parallel else "")


def environment(hardware: Hardware) -> dict:
    """Versions, devices and the hardware profile the predictions use."""
    device = jax.devices()[0]
    return {
        "versions": {"python": sys.version.split()[0], "jax": jax.__version__, "jaxlib": jax.lib.__version__,
                     "flax": flax.__version__, "numpy": np.__version__, "jaxlm": importlib.metadata.version("jaxlm")},
        "machine": platform.platform(),
        "devices": {"count": jax.device_count(), "platform": device.platform, "kind": device.device_kind},
        "hardware": dataclasses.asdict(hardware),
    }


def markdown(config: str, results: Sequence[Result], hardware: Hardware) -> str:
    """The report: one summary row per strategy × mesh, then every comparison, then skipped rows."""
    device = jax.devices()[0]
    ran = [r for r in results if r.executed]
    compiled = [r for r in results if r.compiled is not None]
    lines = [
        f"# jaxlm bench: {config}",
        "",
        f"{jax.device_count()} {device.platform} devices ({device.device_kind}); predictions for **{hardware.name}** "
        f"({hardware.description}).",
        "",
        f"Executed: {', '.join(_name(r) for r in ran) or 'nothing'}. "
        f"Compiled only: {', '.join(f'{_name(r)} ({r.not_executed})' for r in compiled if not r.executed) or 'nothing'}. "  # noqa: E501
        "Memory, collectives and compiler FLOPs come from the compiled program of these devices; step time, "
        "tokens/s and MFU only from executed rows, measured on these devices. Meshes are "
        f"{'×'.join(MESH_AXES)}; +SP: sequence parallelism.",
        "",
        "| strategy | mesh | compile | memory/device (of capacity) | collectives/device/step (measured) "
        "| predicted step | regime | predicted MFU | measured step | tokens/s | MFU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in compiled:
        total = r.compiled.memory["total"]
        kinds = r.compiled.collectives.by_kind()
        moved = ", ".join(f"{k} {int(v['count'])}× {human_bytes(v['bytes'])}" for k, v in kinds.items() if v["bytes"])
        mfu = f"{100 * r.measured_mfu:.1f} %" if r.measured_mfu is not None else "–"
        tokens = f"{r.tokens / r.step_time:,.0f}" if r.executed else "–"
        lines.append(
            f"| {r.strategy} | {_mesh(r)} | {r.compiled.compile_seconds:.1f} s | {human_bytes(total)} "
            f"({100 * total / hardware.hbm_bytes:.1f} %) | {moved or 'none'} | {_seconds(r.roofline.step_seconds)} "
            f"| {r.roofline.regime} | {100 * r.roofline.mfu:.1f} % | {_seconds(r.step_time)} | {tokens} | {mfu} |"
        )
    lines += ["", "## Predicted memory per device", "",
              "| strategy | mesh | parameters | AdamW | gradients | activations | batch | total (of capacity) |",
              "|---|---|---|---|---|---|---|---|"]
    for r in compiled:
        m = r.memory
        total = m.state + m.working + m.batch
        lines.append(f"| {r.strategy} | {_mesh(r)} | {human_bytes(m.parameters)} | {human_bytes(m.optimizer)} "
                     f"| {human_bytes(m.gradients)} | {human_bytes(m.activations)} | {human_bytes(m.batch)} "
                     f"| {human_bytes(total)} ({100 * total / hardware.hbm_bytes:.1f} %) |")
    lines += ["", "## Predicted beside measured (⚑: more than 10 % apart; not comparable: the note says why)", "",
              "| strategy | mesh | figure | predicted | measured | gap | note |", "|---|---|---|---|---|---|---|"]
    for r in compiled:
        for c in r.comparisons(hardware):
            lines.append(f"| {r.strategy} | {_mesh(r)} | {c.name} | {_figure(c, c.predicted)} "
                         f"| {_figure(c, c.measured)} | {_gap(c)} | {c.note} |")
    skipped = [r for r in results if r.skipped]
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- {r.strategy} ({r.mesh_spec}): {r.skipped}" for r in skipped]
    lines += ["", "## Where the bytes go (predicted, largest first)", ""]
    for r in compiled:
        lines.append(f"**{_name(r)}**: " + "; ".join(
            f"{t.why} — {t.kind} over {'×'.join(t.axes)} {human_bytes(t.bytes)}" for t in r.traffic[:5]))
        lines.append("")
    return "\n".join(lines)


def _finite(value: float | None) -> float | str | None:
    return "inf" if value is not None and math.isinf(value) else value


def result_json(result: Result, hardware: Hardware) -> dict:
    """Every figure of one row."""
    row = {"strategy": result.strategy, "mesh_spec": result.mesh_spec, "skipped": result.skipped,
           "sequence_parallel": result.sequence_parallel}
    if result.compiled is None:
        return row
    compiled = result.compiled
    collectives = sorted(compiled.collectives.collectives, key=lambda c: -c.bytes_per_step)
    return row | {
        "mesh": result.mesh,
        "compile_seconds": compiled.compile_seconds,
        "executed": result.executed,
        "not_executed": result.not_executed,
        "measured": {
            "memory_per_device": compiled.memory,
            "collectives_by_kind": compiled.collectives.by_kind(),
            "largest_collectives": [dataclasses.asdict(c) | {"bytes_per_step": c.bytes_per_step}
                                    for c in collectives[:TOP_COLLECTIVES]],
            "loops_without_trip_count": list(compiled.collectives.unknown_trip_loops),
            "compiler_flops_per_device": compiled.flops,
            "compiler_bytes_accessed_per_device": compiled.bytes_accessed,
            "step_seconds": result.step_seconds,
            "tokens_per_second": result.tokens / result.step_time if result.executed else None,
            "mfu": result.measured_mfu,
        },
        "predicted": {
            "memory_per_device": dataclasses.asdict(result.memory) | {"state": result.memory.state},
            "collective_bytes_by_kind": by_kind(result.traffic),
            "collectives": [dataclasses.asdict(t) for t in result.traffic],
            "model_flops_per_step": result.model_flops,
            "roofline_seconds": result.roofline.terms,
            "step_seconds": result.roofline.step_seconds,
            "regime": result.roofline.regime,
            "mfu": result.roofline.mfu,
        },
        "comparisons": [dataclasses.asdict(c) | {"gap": _finite(c.gap), "flagged": c.flagged}
                        for c in result.comparisons(hardware)],
    }


def write_reports(directory: pathlib.Path, config: str, results: Sequence[Result], hardware: Hardware) -> list[str]:
    """bench.md and bench.json under `directory`; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bench.md").write_text(markdown(config, results, hardware) + "\n")
    payload = {"config": config, **environment(hardware), "results": [result_json(r, hardware) for r in results]}
    (directory / "bench.json").write_text(json.dumps(payload, indent=1, default=float) + "\n")
    return [str(directory / "bench.md"), str(directory / "bench.json")]

