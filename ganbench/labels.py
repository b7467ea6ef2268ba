"""Settings labels: the settings that tell jobs of one method and dataset apart, as short text.

A sweep (`[sweep] "train.steps" = [1000, 5000]`) runs each method on each dataset at several
settings; a report over run folders made at different settings does the same. Such jobs differ in
their config, and the label names exactly the settings that differ, by their last path component
(`steps=1000`; the whole path where two would share it), in the order of the config. The suite
writes it into job keys (`gan__ring-8__steps=1000__seed0`), and reports derive it again from the
configs they merge, by the same function, so a folder's keys and its report agree. Rows of one
dataset from folders made with different protocols (a `--quick` run beside `ganbench eval` rows) are
labelled too, so that a table never mixes protocols without saying so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Config entries that never make a setting: they name the job or change no value (the list of metrics
# a suite scores, the random-stream scheme). A differing seed is a repeat, not a setting.
NOT_SETTINGS = ("suite", "method", "dataset", "seed", "metrics", "streams")
# Settings every job has (a suite's training budget and evaluation), as opposed to one method's or one
# dataset's own: a label names them wherever they vary in the folder.
SHARED = ("train.", "eval.")
# What made a job's samples: `run` (ganbench trained the generator) or, for `ganbench eval`, the kind of
# its config's `source` (`samples`, `generator`). A setting of its own, so a label can say it.
SOURCE = "source"
# A dataset's own parameters: a label names them only for that dataset.
DATASET_PARAMS = "dataset_params."
# What a label may hold: it becomes part of a file name (no white space, path separator or "__", and
# not "_" next to the "__" that joins the key), and `,` and `=` are its own separators.
_VALUE = re.compile(r"[A-Za-z0-9.+-]+")
# Values whose JSON text their type and value fix, each type its own texts (`_same`).
_SCALARS = (str, int, float, bool, type(None))


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"steps": 5}} -> {"train.steps": 5}: every leaf of a config by its dotted path."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if type(value) not in _SCALARS and isinstance(value, Mapping):  # a scalar skips the slow check
            flat |= flatten(value, f"{path}.")
        else:
            flat[path] = value
    return flat


def format_value(value: Any) -> str:
    """A setting's value as label text: 1000, 0.001, 1e-05, true, adam."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def check_value(path: str, value: Any) -> str:
    """The label text of a swept value, or an error naming the path when it cannot be part of a key."""
    text = format_value(value)
    if not _VALUE.fullmatch(text):
        raise ValueError(f"{path} = {value!r} cannot label a job (letters, digits, '.', '+' and '-' only)")
    return text


def label(values: Mapping[str, Any]) -> str:
    """'steps=1000,lr=0.001' for {"train.steps": 1000, "hyperparameters.lr": 0.001} ('' when empty)."""
    leaves = [path.rsplit(".", 1)[-1] for path in values]
    names = [leaf if leaves.count(leaf) == 1 else path for leaf, path in zip(leaves, values, strict=True)]
    return ",".join(
        f"{name}={format_value(value)}" for name, value in zip(names, values.values(), strict=True)
    )


def parse_label(text: str) -> dict[str, str]:
    """{'steps': '1000'} for 'steps=1000': the settings a label names, with their texts."""
    if not text:
        return {}
    return dict(part.split("=", 1) for part in text.split(","))


def settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config's settings by dotted path (no NOT_SETTINGS), and SOURCE: what made its samples."""
    flat = flatten({k: v for k, v in config.items() if k not in NOT_SETTINGS})
    source = config.get(SOURCE)
    kind = source.get("kind") if isinstance(source, Mapping) else None
    flat.pop(f"{SOURCE}.kind", None)
    return flat | {SOURCE: kind or "run"}


def varying(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The dotted paths, in config order, whose values are not the same in every config."""
    return _differ([settings(config) for config in configs], missing_differs=True)


def _differ(flat: Sequence[Mapping[str, Any]], missing_differs: bool) -> list[str]:
    """The paths, in order, whose values differ between the settings `flat`; a path some lack differs
    by that alone where `missing_differs`, else only where the values of those that have it differ."""
    paths = list(dict.fromkeys(path for one in flat for path in one))
    missing = object()
    found = []
    for path in paths:
        values = [one.get(path, missing) for one in flat]
        if not missing_differs:
            values = [v for v in values if v is not missing]
        if _differ_as_json(values):
            found.append(path)
    return found


def _differ_as_json(values: Sequence[Any]) -> bool:
    """Whether `values` have more than one JSON text. Only what `_same` cannot tell apart is written as
    JSON: at 100,000 configs, writing every value took most of the time."""
    if len({id(value) for value in values}) <= 1:  # one object (jobs share their settings' values)
        return False
    firsts: dict[Any, Any] = {}
    for value in values:
        firsts.setdefault(_same(value), value)
    if sum(1 for kind, _ in firsts if kind is not object) > 1:  # two scalars of different texts
        return True
    return len({json.dumps(v, default=str) for v in firsts.values()}) > 1


def _same(value: Any) -> tuple[type, Any]:
    """A key that is one for all values of one JSON text: a scalar's type and value (a float by its repr,
    which tells -0.0 from 0.0), so that two scalars of different keys have different texts; any other
    value is `object` and itself."""
    kind = type(value)
    if kind is float:
        return kind, repr(value)
    if kind in _SCALARS:
        return kind, value
    return object, id(value)


def _is_protocol(path: str) -> bool:
    """Whether a setting is part of a row's protocol: the training budget, the evaluation, the
    dataset's parameters and the source. Rows of one table that differ in any of them are not alike."""
    return path == SOURCE or path.startswith((*SHARED, DATASET_PARAMS))


def protocol(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The protocol settings (`_is_protocol`) in which the configs of one dataset's rows differ.

    A setting only some have (an `eval` row has no training) differs where its values do; beside rows
    of another source, the rows that ganbench trained name their steps (an `eval` row has none).
    """
    return _protocol([settings(config) for config in configs])


def _protocol(flat: Sequence[Mapping[str, Any]]) -> list[str]:
    """`protocol` of configs already flattened by `settings`."""
    paths = [path for path in _differ(flat, missing_differs=False) if _is_protocol(path)]
    if SOURCE in paths and "train.steps" not in paths:
        paths.append("train.steps")
    return paths


def settings_labels(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each config's label among `configs`, in input order.

    A setting is labelled where it varies within some method x dataset group. A shared setting
    (`train.*`, `eval.*`: every method has one) that varies anywhere is named in every label, so a
    method run at one budget still says which; a method's or a dataset's own setting
    (hyperparameters, dataset parameters) only in the labels of the groups where it varies.
    Between groups, the rows of one dataset (one table) must show any difference of `protocol`: a
    training, evaluation or source setting in which they differ is named in every label, a dataset
    parameter in the labels of that dataset. A set of configs run at one setting (all the same but
    for the seed and the method's own settings) gets '' everywhere.
    """
    flat = [settings(config) for config in configs]
    groups: dict[tuple[Any, Any], list[int]] = {}
    tables: dict[Any, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault((config.get("method"), config.get("dataset")), []).append(i)
        tables.setdefault(config.get("dataset"), []).append(i)
    # Each group's and each table's paths are found once, for all its members: linear in the configs.
    varies = _per_member(groups, lambda members: _differ([flat[j] for j in members], missing_differs=True))
    differs = _per_member(tables, lambda members: _protocol([flat[j] for j in members]))
    found = {path for paths in [*varies, *differs] for path in paths}
    shared = {path for path in found if path == SOURCE or path.startswith(SHARED)}
    labels = []
    for i, values in enumerate(flat):
        named = shared | varies[i] | differs[i]
        labels.append(label({path: value for path, value in values.items() if path in named}))
    return labels


def _per_member(
    groups: Mapping[Any, list[int]], paths_of: Callable[[list[int]], list[str]]
) -> list[frozenset[str]]:
    """For each index of `groups`' members, the paths `paths_of` finds in its group (one set per group)."""
    result: list[frozenset[str]] = [frozenset()] * sum(len(members) for members in groups.values())
    for members in groups.values():
        paths = frozenset(paths_of(members))
        for i in members:
            result[i] = paths
    return result


def order(labels: Sequence[str]) -> dict[str, int]:
    """Each distinct label's rank, numbers compared as numbers ('steps=500' before 'steps=1000')."""

    def sort_key(text: str) -> tuple[tuple[str, int, float, str], ...]:
        parts = []
        for name, value in parse_label(text).items():
            try:
                parts.append((name, 0, float(value), ""))
            except ValueError:
                parts.append((name, 1, 0.0, value))
        return tuple(parts)

    return {text: rank for rank, text in enumerate(sorted(set(labels), key=sort_key))}


def labelled_key(key: str, label: str) -> str:
    """The job key with `label` as its settings part (ganbench.labels): `gan__ring-8__seed0` and
    'steps=1000' give `gan__ring-8__steps=1000__seed0`; an empty label gives the key unlabelled.
    A throughput key (`<method>__<target>-b<N>`, no seed) gets the label at its end."""
    method, dataset, *rest = key.split("__")
    seed = [rest[-1]] if rest and rest[-1].startswith("seed") else []  # throughput keys have none
    return "__".join([method, dataset, *([label] if label else []), *seed])


def settings_of_key(key: str) -> str:
    """The settings label of a job key (`steps=1000` in `gan__ring-8__steps=1000__seed0`); '' if none."""
    parts = key.split("__")
    if parts[-1].startswith("seed"):
        parts = parts[:-1]
    return parts[2] if len(parts) > 2 else ""
