"""Every collective of a compiled program, read from its partitioned HLO text.

`compiled.as_text()` is the per-device program after SPMD partitioning. Each collective
instruction names its result shape and its replica groups; from them follow the bytes one device
moves over the interconnect per execution, with bandwidth-optimal (ring) algorithms, N the
instruction's result bytes per device and g the devices in its group:

    all-gather          N (g−1)/g      (each device receives the g−1 shards it lacks)
    reduce-scatter      N (g−1)        (its input is g·N: it sends g−1 partial shards)
    all-reduce          2 N (g−1)/g    (a reduce-scatter then an all-gather)
    all-to-all          N (g−1)/g      (it keeps 1/g of its buffer)
    collective-permute  N              (0 when every pair is a device to itself)

Instructions inside a `while` body count once per trip (XLA records `known_trip_count` on
loops it has analysed, e.g. scanned layers; a loop without one counts once and is reported).
Async pairs count once, at `-start`; collectives wrapped in `async-start` computations count
through the call graph like any other.

Replica groups come in three spellings: explicit `{{0,1},{2,3}}`, iota `[2,2]<=[4]` (2 groups
of 2) and mesh axes `mesh['axis_0'=2,'axis_1'=4] {'axis_1'}` (the product of the named axes'
sizes; a sub-axis is written `'axis_1':(1)2`, size 2). `{}` means one group of all devices.
"""

from __future__ import annotations

import dataclasses
import math
import re

KINDS = ("all-gather", "reduce-scatter", "all-reduce", "all-to-all", "collective-permute")

DTYPE_BYTES = {
    "pred": 1, "s4": 0.5, "u4": 0.5, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
    "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16,
    "f8e4m3fn": 1, "f8e5m2": 1, "f8e4m3": 1, "f8e5m2fnuz": 1, "f8e4m3fnuz": 1, "f8e4m3b11fnuz": 1,
    "token": 0,
}

_HEADER = re.compile(r"^(ENTRY\s+)?%?([\w.\-]+)\s*\(.*\)\s*->\s*.*\{\s*$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*)$")
_ARRAY = re.compile(r"\b([a-z][a-z0-9]*)\[([0-9,]*)\]")
_CALLED = re.compile(r"\b(calls|to_apply|body|condition|true_computation|false_computation)=%?([\w.\-]+)")
_BRANCHES = re.compile(r"branch_computations=\{([^}]*)\}")
_TRIP_COUNT = re.compile(r'"known_trip_count"\s*:\s*\{\s*"n"\s*:\s*"(\d+)"')
_OP_NAME = re.compile(r'op_name="([^"]*)"')


@dataclasses.dataclass(frozen=True)
class Collective:
    """One collective instruction of the per-device program.

    result_bytes: bytes of its result on one device (all tuple elements); group_size: devices
    per replica group; executions: times it runs per step (while trips multiplied in).
    """

    kind: str
    name: str
    result_bytes: float
    group_size: int
    executions: int
    op_name: str = ""
    self_only: bool = False

    @property
    def bytes_per_execution(self) -> float:
        """Bytes this device sends (= receives) per execution, ring algorithms (module docstring)."""
        n, g = self.result_bytes, self.group_size
        if self.kind == "collective-permute":
            return 0.0 if self.self_only else n
        if g <= 1:
            return 0.0
        if self.kind == "all-reduce":
            return 2 * n * (g - 1) / g
        if self.kind == "reduce-scatter":
            return n * (g - 1)
        return n * (g - 1) / g

    @property
    def bytes_per_step(self) -> float:
        return self.bytes_per_execution * self.executions


@dataclasses.dataclass(frozen=True)
class HloCollectives:
    """The collectives of a program, and the loops whose trip count XLA did not record."""

    collectives: tuple[Collective, ...]
    unknown_trip_loops: tuple[str, ...] = ()

    def by_kind(self) -> dict[str, dict[str, float]]:
        """{kind: {'count': executions per step, 'bytes': bytes per device per step}} for every kind."""
        table = {kind: {"count": 0, "bytes": 0.0} for kind in KINDS}
        for c in self.collectives:
            if c.bytes_per_execution == 0:
                continue
            table[c.kind]["count"] += c.executions
            table[c.kind]["bytes"] += c.bytes_per_step
        return table


def _balanced(text: str, start: int) -> int:
    """Index just past the parenthesis group opening at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError(f"unbalanced parentheses in HLO: {text[start:start + 80]!r}")


def _split_shape(rhs: str) -> tuple[str, str]:
    """'(f32[2], f32[4]) all-gather(...)' → ('(f32[2], f32[4])', 'all-gather(...)')."""
    if rhs.startswith("("):
        end = _balanced(rhs, 0)
        return rhs[:end], rhs[end:].lstrip()
    shape, _, rest = rhs.partition(" ")
    return shape, rest


def _arrays(shape: str) -> list[float]:
    """Bytes of every array in a (possibly tuple) shape string, in order."""
    sizes = []
    for dtype, dims in _ARRAY.findall(shape):
        if dtype not in DTYPE_BYTES:
            continue
        count = math.prod(int(d) for d in dims.split(",") if d) if dims else 1
        sizes.append(count * DTYPE_BYTES[dtype])
    return sizes


def _top_level_elements(shape: str) -> list[str]:
    """The top-level elements of a tuple shape '(a, (b, c), d)' → ['a', '(b, c)', 'd']."""
    inner = shape.strip()[1:-1]
    parts, depth, current = [], 0, []
    for ch in inner:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    return [p.strip() for p in parts]


def _result_bytes(opcode: str, shape: str) -> float:
    """Bytes of what the collective delivers on one device.

    `-start` ops return bookkeeping tuples: all-gather-start (operands, outputs) → the second half;
    collective-permute-start (operand, output, contexts...) → the second element.
    """
    if opcode.endswith("-start") and shape.startswith("("):
        elements = _top_level_elements(shape)
        if opcode == "collective-permute-start":
            return sum(_arrays(elements[1]))
        if opcode == "all-gather-start":
            return sum(sum(_arrays(e)) for e in elements[len(elements) // 2:])
    return sum(_arrays(shape))


def group_size(attributes: str, num_devices: int) -> int:
    """Devices per replica group from an instruction's attribute text."""
    mesh = re.search(r"replica_groups=mesh\[([^\]]*)\][^{]*\{([^}]*)\}", attributes)
    if mesh:
        sizes = dict(re.findall(r"'([^']+)'=(\d+)", mesh.group(1)))
        size = 1
        for axis in mesh.group(2).split(","):
            axis = axis.strip()
            if not axis:
                continue
            sub = re.match(r"'([^']+)':\(\d+\)(\d+)", axis)
            size *= int(sub.group(2)) if sub else int(sizes[axis.strip("'")])
        return size
    iota = re.search(r"replica_groups=\[(\d+),(\d+)\]<=", attributes)
    if iota:
        return int(iota.group(2))
    explicit = re.search(r"replica_groups=\{(\{[^}]*\})?", attributes)
    if explicit:
        first = explicit.group(1)
        if not first or first == "{}":
            return num_devices
        return len([d for d in first.strip("{}").split(",") if d.strip()])
    return num_devices


def _self_only(attributes: str) -> bool:
    pairs = re.search(r"source_target_pairs=\{(.*?)\}\}", attributes)
    if not pairs:
        return False
    return all(a == b for a, b in re.findall(r"\{(\d+),(\d+)", pairs.group(0)))


def _parse(text: str) -> tuple[str | None, dict[str, list[tuple[str, str, str, str]]]]:
    """(entry name, {computation: [(name, shape, opcode, rest of line)]})."""
    computations: dict[str, list] = {}
    entry, current = None, None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = header.group(2)
            computations[current] = []
            if header.group(1):
                entry = current
            continue
        if current is None:
            continue
        if line.strip() == "}":
            current = None
            continue
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        shape, rest = _split_shape(match.group(2))
        opcode = re.match(r"[\w\-]+", rest)
        computations[current].append((match.group(1), shape, opcode.group(0) if opcode else "", rest))
    return entry, computations


def _calls(computations: dict) -> tuple[dict[str, list[tuple[str, int]]], list[str]]:
    """{computation: [(callee, times per call)]}, and loops of unknown trip count (counted once)."""
    edges: dict[str, list[tuple[str, int]]] = {}
    unknown: list[str] = []
    for name, instructions in computations.items():
        edges[name] = []
        for instruction, _, opcode, rest in instructions:
            called = _CALLED.findall(rest)
            branches = _BRANCHES.search(rest)
            if branches:
                called += [("branch", b.strip().lstrip("%")) for b in branches.group(1).split(",") if b.strip()]
            for key, target in called:
                if target not in computations or (key == "to_apply" and opcode != "call") or key == "condition":
                    continue
                times = 1
                if opcode == "while" and key == "body":
                    trips = _TRIP_COUNT.search(rest)
                    if trips:
                        times = int(trips.group(1))
                    else:
                        unknown.append(instruction)
                edges[name].append((target, times))
    return edges, unknown


def _executions(entry: str, edges: dict[str, list[tuple[str, int]]]) -> dict[str, int]:
    """How often each computation runs per call of `entry` (callers summed, in topological order)."""
    order, seen = [], set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for target, _ in edges.get(name, ()):
            visit(target)
        order.append(name)

    visit(entry)
    counts = dict.fromkeys(order, 0)
    counts[entry] = 1
    for name in reversed(order):
        for target, times in edges.get(name, ()):
            counts[target] += counts[name] * times
    return counts


def read_collectives(text: str, num_devices: int) -> HloCollectives:
    """Every collective of an HLO module (`compiled.as_text()`), with its per-step execution count."""
    entry, computations = _parse(text)
    if entry is None:
        raise ValueError("no ENTRY computation in the HLO text")
    edges, unknown = _calls(computations)
    counts = _executions(entry, edges)
    found = []
    for computation, instructions in computations.items():
        times = counts.get(computation, 0)
        if not times:
            continue
        for name, shape, opcode, rest in instructions:
            kind = opcode.removesuffix("-start")
            if kind not in KINDS:
                continue
            op_name = _OP_NAME.search(rest)
            found.append(Collective(
                kind=kind, name=name, result_bytes=_result_bytes(opcode, shape),
                group_size=group_size(rest, num_devices), executions=times,
                op_name=op_name.group(1) if op_name else "",
                self_only=kind == "collective-permute" and _self_only(rest),
            ))
    return HloCollectives(tuple(found), tuple(unknown))
