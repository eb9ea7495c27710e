"""PNG plots of a sweep (matplotlib, imported only here and only when plotting):

    memory.png       compiled bytes per device by strategy × mesh, with the predicted state +
                     working set beside it and the device capacity as a line
    collectives.png  bytes per device per step by collective kind, measured (solid) and
                     predicted (hatched)
    step_time.png    the predicted roofline terms by strategy × mesh (the tallest sets the step)
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np

from jaxlm.errors import JaxlmError
from jaxlm.lab.hardware import Hardware
from jaxlm.lab.hlo import KINDS
from jaxlm.lab.sweep import Result
from jaxlm.lab.traffic import by_kind


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise JaxlmError("plots need matplotlib: pip install 'jaxlm[bench]' (or pass --no-plots)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(result: Result) -> str:
    mesh = "×".join(f"{a[0]}{s}" for a, s in result.mesh.items() if s > 1)
    return f"{result.strategy}\n{mesh}"


def write_plots(directory: pathlib.Path, results: Sequence[Result], hardware: Hardware) -> list[str]:
    """The three PNGs under `directory`; the paths written."""
    plt = _pyplot()
    rows = [r for r in results if r.compiled is not None]
    if not rows:
        return []
    labels, x = [_label(r) for r in rows], np.arange(len(rows))
    width = max(6.0, 1.4 * len(rows))
    paths = []

    fig, ax = plt.subplots(figsize=(width, 4))
    ax.bar(x - 0.2, [r.compiled.memory["total"] / 1e9 for r in rows], 0.4, label="compiled total")
    ax.bar(x + 0.2, [(r.memory.state + r.memory.working + r.memory.batch) / 1e9 for r in rows], 0.4,
           label="predicted", hatch="//", alpha=0.7)
    ax.axhline(hardware.hbm_bytes / 1e9, color="red", linestyle="--", label=f"{hardware.name} capacity")
    ax.set(ylabel="GB per device", title="Memory per device", xticks=x, xticklabels=labels)
    ax.set_yscale("log")
    ax.legend()
    paths.append(_save(fig, directory / "memory.png", plt))

    fig, ax = plt.subplots(figsize=(width, 4))
    step = 0.8 / len(KINDS)
    for i, kind in enumerate(KINDS):
        measured = [r.compiled.collectives.by_kind()[kind]["bytes"] / 1e6 for r in rows]
        predicted = [by_kind(r.traffic)[kind] / 1e6 for r in rows]
        offset = x - 0.4 + (i + 0.5) * step
        bars = ax.bar(offset - step / 4, measured, step / 2, label=kind)
        ax.bar(offset + step / 4, predicted, step / 2, hatch="//", color=bars.patches[0].get_facecolor(), alpha=0.5)
    ax.set(ylabel="MB per device per step", title="Collectives: measured (solid), predicted (hatched)",
           xticks=x, xticklabels=labels)
    ax.legend()
    paths.append(_save(fig, directory / "collectives.png", plt))

    fig, ax = plt.subplots(figsize=(width, 4))
    terms = list(rows[0].roofline.terms)
    step = 0.8 / len(terms)
    for i, term in enumerate(terms):
        ax.bar(x - 0.4 + (i + 0.5) * step, [r.roofline.terms[term] * 1e3 for r in rows], step, label=term)
    ax.set(ylabel="ms per step", title=f"Predicted step time on {hardware.name} (roofline: the tallest bar)",
           xticks=x, xticklabels=labels)
    ax.legend()
    paths.append(_save(fig, directory / "step_time.png", plt))
    return paths


def _save(fig, path: pathlib.Path, plt) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
