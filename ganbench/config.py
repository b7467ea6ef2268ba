"""Typed settings: build frozen dataclasses from TOML tables or CLI values, checking every value."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from ganbench.errors import GanbenchError

# The network and batch bounds (ganbench.limits), re-exported for the settings modules that import them here.
from ganbench.limits import MAX_BATCH, MAX_DEPTH, MAX_LATENT_DIM, MAX_WIDTH  # noqa: F401
from ganbench.registry import suggest

T = TypeVar("T")


# A suite's name becomes a folder under results/: letters, digits, '.', '_', '-'; no '..'.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def at_least(minimum: float) -> dict[str, Any]:
    """Field metadata: the value must be >= minimum."""
    return {"at_least": minimum}


def above(minimum: float) -> dict[str, Any]:
    """Field metadata: the value must be > minimum."""
    return {"above": minimum}


def at_most(maximum: float) -> dict[str, Any]:
    """Field metadata: the value must be <= maximum (combine with `|`: `at_least(1) | at_most(9)`)."""
    return {"at_most": maximum}


def below(maximum: float) -> dict[str, Any]:
    """Field metadata: the value must be < maximum."""
    return {"below": maximum}


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
    # TOML has nan and inf; no setting means either (and `nan <= 0` is false, so ranges miss it).
    if kind is float and not math.isfinite(value):
        raise GanbenchError(f"{label} must be a finite number (got {value!r})")
    if "at_least" in meta and value < meta["at_least"]:
        raise GanbenchError(f"{label} must be >= {meta['at_least']:g} (got {value!r})")
    if "above" in meta and value <= meta["above"]:
        raise GanbenchError(f"{label} must be > {meta['above']:g} (got {value!r})")
    if "at_most" in meta and value > meta["at_most"]:
        raise GanbenchError(f"{label} must be <= {_number(meta['at_most'])} (got {value!r})")
    if "below" in meta and value >= meta["below"]:
        raise GanbenchError(f"{label} must be < {meta['below']:g} (got {value!r})")
    return value


def _number(value: float) -> str:
    """10,000,000 for integers, 1e+06 for floats: a bound as a reader takes it in."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


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
            raise GanbenchError(
                f"{where}: unknown key '{key}'{suggest(key, list(fields))}; {valid_keys(fields)}"
            )
        # "file: train" + "steps" reads "file: train.steps"; top-level keys ("file:") read "file: seeds".
        label = f"{where} {key}" if where.endswith(":") else f"{where}.{key}"
        values[key] = _check_value(label, value, hints[key], fields[key].metadata)
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def valid_keys(keys: Any) -> str:
    """'valid: a, b, c' for an unknown-key message."""
    return f"valid: {', '.join(keys)}"


def check_field(label: str, value: Any, cls: type, name: str) -> Any:
    """Check one value against field `name` of `cls` (type and range); `label` names its source."""
    kind, metadata = _fields_of(cls)[name]
    return _check_value(label, value, kind, metadata)


@functools.cache
def _fields_of(cls: type) -> dict[str, tuple[Any, Mapping[str, Any]]]:
    """Each field's type and metadata, resolved once per class (a sweep checks thousands of values)."""
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f.metadata) for f in dataclasses.fields(cls)}


def folder_name(name: str, where: str) -> str:
    """A suite's `name`, refused unless it is a safe folder name (it becomes results/<name>/)."""
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise GanbenchError(
            f"{where}: name {name!r} must be 1-100 letters, digits, '.', '_' or '-', not starting with "
            "'.' or '-' and without '..' (it names a folder under results/)"
        )
    return name


def sanitized_name(stem: str) -> str:
    """A file name's stem as a suite name: anything outside NAME_PATTERN becomes '-'."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).replace("..", "-").lstrip(".-")[:100]
    return name or "suite"
