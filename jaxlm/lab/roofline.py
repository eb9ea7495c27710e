"""A roofline step time for named hardware: compute, HBM and every link's traffic, the largest wins.

    compute   FLOPs per device / peak        (model FLOPs × 4/3 under full remat: the forward
                                             pass of every block runs twice)
    hbm       bytes per device / HBM bandwidth, counting weights read twice in their gathered
              size (forward, input gradient), gradients written once, AdamW reading parameters,
              gradients and both moments and writing three of them (7 × parameters), activations
              written and read once, and the float32 logits written, read and differentiated
    links     predicted collective bytes / link bandwidth, per link: a collective whose group
              fits in one fast domain (devices numbered row-major over the mesh axes, domains of
              `domain_size` consecutive devices) uses the fast link, otherwise the slow one

step time = max of these (perfect overlap: a lower bound), the regime is the term that sets it,
and predicted MFU = model FLOPs per device / (step time × peak).
"""

from __future__ import annotations

import dataclasses
import math

from jaxlm.lab.hardware import Hardware
from jaxlm.lab.layout import Layout, output_tokens
from jaxlm.lab.memory import FLOAT32, MemoryPrediction
from jaxlm.lab.traffic import Traffic


@dataclasses.dataclass(frozen=True)
class Roofline:
    """Seconds per step of each term on one device, and what follows from them."""

    terms: dict[str, float]
    model_flops_per_device: float
    peak_flops: float

    @property
    def step_seconds(self) -> float:
        return max(self.terms.values())

    @property
    def regime(self) -> str:
        return max(self.terms, key=self.terms.get)

    @property
    def mfu(self) -> float:
        return self.model_flops_per_device / (self.step_seconds * self.peak_flops)


def executed_flops(layout: Layout, model_flops: float) -> float:
    """FLOPs one device executes per step: its share of the model FLOPs, plus full remat's recompute."""
    recompute = 4 / 3 if layout.cfg.model.remat == "full" else 1.0
    return model_flops / layout.devices * recompute


def hbm_bytes(layout: Layout, memory: MemoryPrediction) -> float:
    """HBM traffic of one step on one device (module docstring)."""
    gathered = sum(layout.gathered_bytes(t) for t in layout.tensors)
    weights_and_gradients = 2 * gathered + gathered
    optimizer = 7 * memory.parameters
    outputs = output_tokens(layout)
    logits = 0.0
    if outputs:
        logits = 3 * layout.local_tokens(outputs) * layout.features("vocab", layout.cfg.model.vocab_size) * FLOAT32
    return weights_and_gradients + optimizer + 2 * memory.activations + logits


def link_of(layout: Layout, axes: tuple[str, ...], hardware: Hardware) -> str:
    """'fast' when every group over `axes` lies inside one domain of the hardware, else 'slow'."""
    names = list(layout.sizes)
    span = 1
    for axis in axes:
        stride = math.prod(layout.sizes[a] for a in names[names.index(axis) + 1:])
        span = max(span, stride * layout.sizes[axis])
    return "fast" if span <= hardware.domain_size else "slow"


def roofline(layout: Layout, model_flops: float, memory: MemoryPrediction, traffic: list[Traffic],
             hardware: Hardware) -> Roofline:
    """The predicted step on `hardware` (module docstring)."""
    terms = {
        "compute": executed_flops(layout, model_flops) / hardware.peak_flops,
        "hbm": hbm_bytes(layout, memory) / hardware.hbm_bandwidth,
        "fast link": 0.0,
        "slow link": 0.0,
    }
    for item in traffic:
        link = link_of(layout, item.axes, hardware)
        terms[f"{link} link"] += item.bytes / (hardware.fast_link if link == "fast" else hardware.slow_link)
    return Roofline(terms, model_flops / layout.devices, hardware.peak_flops)
