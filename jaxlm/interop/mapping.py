"""Weight mapping rules between a Hugging Face state dict and jaxlm's flat weights.

A family module (bert.py, gpt2.py, t5.py) lists `Rule`s, one per Hugging Face tensor:

    copy    the same array                        (embeddings, norms, biases, GPT-2's Conv1D)
    linear  jaxlm kernel [in, out] = weightᵀ       (torch.nn.Linear stores [out, in])
    split3  one fused tensor ↔ three jaxlm arrays  (GPT-2's c_attn = [q | k | v] on the last axis)

plus `aliases`: Hugging Face names that hold a copy of another tensor (tied weights). Aliases are
written on export so a strict `load_state_dict` finds every key, and skipped on import.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from jaxlm.errors import JaxlmError

Kind = Literal["copy", "linear", "split3"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """Hugging Face tensor `hf` ↔ jaxlm weights `jaxlm` (one path, or three for 'split3')."""

    hf: str
    jaxlm: tuple[str, ...]
    kind: Kind = "copy"


def copy(hf: str, jaxlm: str) -> Rule:
    return Rule(hf, (jaxlm,), "copy")


def linear(hf: str, jaxlm: str) -> Rule:
    return Rule(hf, (jaxlm,), "linear")


def hf_shape(rule: Rule, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """The Hugging Face shape that jaxlm arrays of `shapes` correspond to."""
    if rule.kind == "linear":
        return tuple(reversed(shapes[0]))
    if rule.kind == "split3":
        return (*shapes[0][:-1], sum(s[-1] for s in shapes))
    return tuple(shapes[0])


def to_jaxlm(rule: Rule, array: np.ndarray) -> list[np.ndarray]:
    if rule.kind == "linear":
        return [np.ascontiguousarray(array.T)]
    if rule.kind == "split3":
        return list(np.split(array, 3, axis=-1))
    return [array]


def to_hf(rule: Rule, arrays: Sequence[np.ndarray]) -> np.ndarray:
    if rule.kind == "linear":
        return np.ascontiguousarray(arrays[0].T)
    if rule.kind == "split3":
        return np.concatenate(arrays, axis=-1)
    return arrays[0]


def import_weights(
    state: Mapping[str, np.ndarray],
    rules: Sequence[Rule],
    aliases: Mapping[str, str],
    expected: Mapping[str, np.ndarray],
    *,
    architecture: str,
    ignored: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Hugging Face `state` → jaxlm flat weights, checked against the `expected` jaxlm arrays
    (their shapes). Every rule's tensor must be present with the right shape; tensors no rule
    or alias names are an error unless they match an `ignored` regex (non-weight buffers)."""
    known = {rule.hf for rule in rules} | set(aliases)
    for key in state:
        if key not in known and not any(re.search(pattern, key) for pattern in ignored):
            raise JaxlmError(f"unexpected weight '{key}' for {architecture}; is the architecture in config.json right?")
    weights = {}
    for rule in rules:
        if rule.hf not in state:
            raise JaxlmError(f"weight '{rule.hf}' is missing; {architecture} needs it")
        array = np.asarray(state[rule.hf])
        want = hf_shape(rule, [expected[path].shape for path in rule.jaxlm])
        if tuple(array.shape) != want:
            raise JaxlmError(
                f"weight '{rule.hf}' has shape {tuple(array.shape)} but the config implies {want}"
            )
        weights.update(zip(rule.jaxlm, to_jaxlm(rule, array), strict=True))
    unmapped = sorted(set(expected) - set(weights))
    if unmapped:
        raise JaxlmError(f"no Hugging Face weight maps to jaxlm parameter '{unmapped[0]}'")
    return weights


def export_weights(
    weights: Mapping[str, np.ndarray], rules: Sequence[Rule], aliases: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """jaxlm flat weights → a Hugging Face state dict (aliases included, as copies)."""
    state = {rule.hf: to_hf(rule, [np.asarray(weights[path]) for path in rule.jaxlm]) for rule in rules}
    for alias, source in aliases.items():
        state[alias] = state[source]
    return state
