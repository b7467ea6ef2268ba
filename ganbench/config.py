"""Typed settings: build frozen dataclasses from TOML tables or CLI values, checking every value."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from ganbench.errors import GanbenchError
from ganbench.registry import suggest

T = TypeVar("T")


def at_least(minimum: float) -> dict[str, Any]:
    """Field metadata: the value must be >= minimum."""
    return {"at_least": minimum}


def above(minimum: float) -> dict[str, Any]:
    """Field metadata: the value must be > minimum."""
    return {"above": minimum}


def _check_value(label: str, value: Any, kind: Any, meta: Mapping[str, Any]) -> Any:
    """Return `value` converted to `kind`, or raise with `label` naming where it came from."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        choices = typing.get_args(kind)
        if value not in choices:
            raise GanbenchError(f"{label} must be one of {', '.join(map(repr, choices))} (got {value!r})")
        return value
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - a settings class declared a type this loader does not know
        raise TypeError(f"unsupported settings type {kind!r} for {label}")
    if not ok:
        raise GanbenchError(f"{label} must be {_TYPE_WORDS[kind]} (got {value!r})")
    if "at_least" in meta and value < meta["at_least"]:
        raise GanbenchError(f"{label} must be >= {meta['at_least']:g} (got {value!r})")
    if "above" in meta and value <= meta["above"]:
        raise GanbenchError(f"{label} must be > {meta['above']:g} (got {value!r})")
    return value


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def build(cls: type[T], table: Mapping[str, Any], where: str, base: T | None = None) -> T:
    """Build `cls` (a frozen dataclass) from `table`, on top of `base` or the class defaults.

    `where` prefixes every message ("suites/x.toml: train"), so errors name the file and key.
    Unknown keys, wrong types and out-of-range values raise `GanbenchError`.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise GanbenchError(f"{where}: unknown key '{key}'{suggest(key, list(fields))}")
        values[key] = _check_value(f"{where}.{key}", value, hints[key], fields[key].metadata)
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def check_field(label: str, value: Any, cls: type, name: str) -> Any:
    """Check one value against field `name` of `cls` (type and range); `label` names its source."""
    (f,) = [f for f in dataclasses.fields(cls) if f.name == name]
    return _check_value(label, value, typing.get_type_hints(cls)[name], f.metadata)
