"""Strict, typed config sections: dataclasses built from plain dicts.

Every section is a frozen dataclass. `build_section` checks each key against the dataclass
fields (an unknown key names the closest valid one), each value against the field's type hint,
then calls the section's own `validate()` for constraints between values. All problems are
raised as a one-line `ConfigError` naming the dotted key and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal

from jaxlm.errors import JaxlmError


class ConfigError(JaxlmError, ValueError):
    """A config problem a user can fix; its message is one line naming the key."""


def require(condition: bool, key: str, why: str) -> None:
    """Raise `ConfigError('key: why')` unless `condition` holds."""
    if not condition:
        raise ConfigError(f"{key}: {why}")


def _closest(name: str, options: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against a type hint, converting only what YAML cannot express (lists → tuples)."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            options = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{key}: {value!r} is not one of {options}{_closest(str(value), map(str, choices))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{key}: unexpected {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_hint, *_) = typing.get_args(hint) or (Any,)
        return tuple(_coerce(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        return build_section(hint, value, key)
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, str):
            value = _parse_float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def _parse_float(text: str) -> float | str:
    """PyYAML (YAML 1.1) reads `1e-4` as a string: such text becomes a float, other text stays."""
    try:
        return float(text)
    except ValueError:
        return text


def build_section(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass `cls` from mapping `data`; keys are reported as `prefix.key`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    dotted = (lambda name: f"{prefix}.{name}") if prefix else (lambda name: name)
    for name in data:
        if name not in fields:
            valid = "" if prefix else f"; the top-level keys are {', '.join(fields)}"
            raise ConfigError(f"unknown key '{dotted(name)}'{_closest(str(name), fields)}{valid}")
    values = {name: _coerce(value, hints[name], dotted(name)) for name, value in data.items()}
    missing = [
        name for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing key '{dotted(missing[0])}'")
    section = cls(**values)
    validate = getattr(section, "validate", None)
    if validate is not None:
        validate(prefix)
    return section


def to_dict(section: Any) -> dict:
    """A plain, YAML-serialisable dict of a section (tuples become lists)."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value
    return plain(section)
