"""Named accelerator profiles: the figures a roofline needs, each with the page it comes from.

A profile holds, per device: dense bf16 peak FLOP/s, HBM bandwidth and capacity, and two link
bandwidths — `fast_link` inside a domain of `domain_size` devices that share the fast fabric
(an NVLink/NVSwitch node, a TPU slice's ICI torus) and `slow_link` between domains (InfiniBand
or the data-centre network). Link figures are bytes per second one device can send while it
receives as much, the quantity the ring collectives of `jaxlm.lab.hlo` are counted in:

    H100 / A100   NVLink total (both directions) / 2; InfiniBand: one NIC per GPU.
    TPU           a ring along one torus axis uses the two links of that axis in both
                  directions: 2 × (per-chip bidirectional ICI / ports / 2).

Chip figures were checked against copies of the cited vendor pages (dense, i.e. half the "with
sparsity" tensor-core numbers NVIDIA prints first); the per-GPU InfiniBand figures are the DGX
systems' one-NIC-per-GPU layout and were not re-checked. A profile's peak FLOP/s is not written
here: it is `jaxlm.train.flops.PEAK_FLOPS` of its first device kind, the table the train loop's
MFU uses, so the two cannot disagree.
"""

from __future__ import annotations

import dataclasses

from jaxlm.errors import JaxlmError
from jaxlm.train.flops import PEAK_FLOPS, device_name

GB = 1e9


@dataclasses.dataclass(frozen=True)
class Hardware:
    """One device kind. Rates in FLOP/s and bytes/s, capacity in bytes; `device_kinds` are
    `PEAK_FLOPS` names, and `peak_flops` is the first one's entry there."""

    name: str
    description: str
    hbm_bandwidth: float
    hbm_bytes: float
    fast_link: float
    domain_size: int
    slow_link: float
    device_kinds: tuple[str, ...]
    sources: tuple[str, ...]
    peak_flops: float = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak_flops", PEAK_FLOPS[self.device_kinds[0]])


PROFILES: dict[str, Hardware] = {
    profile.name: profile
    for profile in (
        Hardware(
            name="h100",
            description="NVIDIA H100 SXM5 80GB, 8 per node on NVLink 4 + NVSwitch, 400 Gb/s InfiniBand per GPU",
            hbm_bandwidth=3350 * GB, hbm_bytes=80 * GB,
            fast_link=450 * GB, domain_size=8, slow_link=50 * GB,
            device_kinds=("H100",),
            sources=(
                "https://www.nvidia.com/en-us/data-center/h100/ (H100 SXM: BF16 1,979 TFLOPS with sparsity, "
                "80 GB, 3.35 TB/s, NVLink 900 GB/s)",
                "DGX H100 system: 8 GPUs on NVSwitch, one 400 Gb/s ConnectX-7 InfiniBand port per GPU "
                "(NVIDIA DGX H100 user guide; not re-checked here)",
            ),
        ),
        Hardware(
            name="h200",
            description="NVIDIA H200 SXM 141GB, 8 per node on NVLink 4 + NVSwitch, 400 Gb/s InfiniBand per GPU",
            hbm_bandwidth=4800 * GB, hbm_bytes=141 * GB,
            fast_link=450 * GB, domain_size=8, slow_link=50 * GB,
            device_kinds=("H200",),
            sources=(
                "https://www.nvidia.com/en-us/data-center/h200/ (H200 SXM: BF16 1,979 TFLOPS with sparsity, "
                "141 GB HBM3e, 4.8 TB/s, NVLink 900 GB/s); the page itself was not in the copies searched: "
                "the figures were checked against MLCommons inference v4.1's NVIDIA H200-SXM-141GBx8 system "
                "description (141 GB HBM3e, 18x 4th Gen NVLink 900 GB/s, 8 per node) and spec tables that "
                "quote NVIDIA (4.8 TB/s, 989 TFLOPS dense BF16)",
                "DGX H200 system: 8 GPUs on NVSwitch, one 400 Gb/s ConnectX-7 InfiniBand port per GPU, as DGX H100 "
                "(not re-checked here)",
            ),
        ),
        Hardware(
            name="a100",
            description="NVIDIA A100 SXM4 80GB, 8 per node on NVLink 3 + NVSwitch, 200 Gb/s InfiniBand per GPU",
            hbm_bandwidth=2039 * GB, hbm_bytes=80 * GB,
            fast_link=300 * GB, domain_size=8, slow_link=25 * GB,
            device_kinds=("A100",),
            sources=(
                "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
                "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf (BF16 312 TFLOPS dense, 80 GB HBM2e "
                "2,039 GB/s, NVLink 600 GB/s)",
                "DGX A100 system: 8 GPUs on NVSwitch, one 200 Gb/s HDR InfiniBand port per GPU "
                "(NVIDIA DGX A100 user guide; not re-checked here)",
            ),
        ),
        Hardware(
            name="tpu_v5e",
            description="Google TPU v5e, 2D torus ICI (4 ports per chip), slices up to 256 chips",
            hbm_bandwidth=819 * GB, hbm_bytes=16 * GB,
            fast_link=100 * GB, domain_size=256, slow_link=3.125 * GB,
            device_kinds=("TPU v5 lite", "TPU v5e"),
            sources=(
                "https://cloud.google.com/tpu/docs/v5e (197 TFLOPs bf16, 16 GB HBM2 at 819 GBps, ICI 400 GBps "
                "bidirectional per chip over 4 ports, 2x 100 Gbps NIC per 8-chip host)",
            ),
        ),
        Hardware(
            name="tpu_v5p",
            description="Google TPU v5p, 3D torus ICI (6 ports per chip), slices up to 6,144 chips",
            hbm_bandwidth=2765 * GB, hbm_bytes=95 * GB,
            fast_link=200 * GB, domain_size=6144, slow_link=6.25 * GB,
            device_kinds=("TPU v5p", "TPU v5"),
            sources=(
                "https://cloud.google.com/tpu/docs/v5p (459 TFLOPs bf16, 95 GB HBM2e at 2,765 GBps, ICI 1,200 GBps "
                "bidirectional per chip, DCN 50 Gbps per chip, largest slice 6,144 chips)",
            ),
        ),
    )
}


def hardware_for(name: str) -> Hardware:
    """The profile called `name` (JaxlmError naming the choices otherwise)."""
    if name not in PROFILES:
        raise JaxlmError(f"--hardware {name!r} is not a profile; pick one of {', '.join(PROFILES)}")
    return PROFILES[name]


def profile_of_device(device_kind: str) -> Hardware | None:
    """The profile of `device_kind` (e.g. 'NVIDIA H100 80GB HBM3'): the one listing the `PEAK_FLOPS`
    name it matches, or None (CPU, or a device with a peak but no profile, such as an L4)."""
    name = device_name(device_kind)
    return next((profile for profile in PROFILES.values() if name in profile.device_kinds), None)
