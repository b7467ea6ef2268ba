"""Records grouped by row (method x dataset x metric x settings): each side's values, notes and rule."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ganbench.data import DATASETS
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS
from ganbench.metrics.base import NOT_APPLICABLE
from ganbench.models import METHODS
from ganbench.report.compare.load import check_columns

# Config keys that do not define what a value measures: the seed varies within a row, the list of
# metrics a suite evaluates changes none of their values (adding one must not unmatch the rest), and
# the random-stream scheme changes which draws a seed makes, not the protocol (a baseline from before
# a scheme change is a sample of the same distribution over seeds).
UNMATCHED_CONFIG_KEYS = ("seed", "metrics", "streams")

Key = tuple[str, str, str, str]  # method, dataset, metric, settings JSON
Group = tuple[str, str, str]  # method, dataset, settings JSON: the jobs whose flags go together


@dataclass(frozen=True)
class Rule:
    """How a row's metric is judged: its direction and noise tolerances, as the records stored them."""

    higher_is_better: bool
    rel_tol: float
    abs_tol: float


@dataclass(frozen=True)
class Side:
    """One side of a row: the values of its ok jobs, a word on each job that gave none, its rule."""

    values: np.ndarray
    not_ok: tuple[str, ...]
    rule: Rule
    jobs: tuple[str, ...] = ()  # the ok jobs that gave a value (a job with repeats once)
    flagged: tuple[tuple[str, str], ...] = ()  # (job, flag) per convergence flag of an ok job
    # Why ok jobs have no value where the metric cannot be computed for them (WGAN-GP's FLOPs).
    not_applicable: tuple[str, ...] = ()


def _rule(row: Any, where: str) -> Rule:
    """The row's stored direction and tolerances; a records.csv of before schema 3 lacks the
    tolerances (and may lack the direction), which then come from the metric registry."""
    stored = [getattr(row, name, None) for name in ("higher_is_better", "rel_tol", "abs_tol")]
    if all(value is not None and not pd.isna(value) for value in stored):
        higher = str(stored[0]).lower()
        try:
            rel_tol, abs_tol = float(stored[1]), float(stored[2])
        except ValueError:
            rel_tol = abs_tol = math.nan
        if higher not in ("true", "false") or not (rel_tol >= 0 and abs_tol >= 0):
            raise GanbenchError(
                f"incompatible schema: the {where} give {row.metric} a direction {stored[0]!r}, "
                f"rel_tol {stored[1]!r}, abs_tol {stored[2]!r} (expected true or false, and numbers >= 0)"
            )
        return Rule(higher == "true", rel_tol, abs_tol)
    metric = METRICS.get(str(row.metric))
    return Rule(metric.higher_is_better, metric.rel_tol, metric.abs_tol)


def row_settings(config: Any, where: str) -> str:
    """The job config without the seed (UNMATCHED_CONFIG_KEYS), as canonical JSON."""
    try:
        parsed = json.loads(config) if isinstance(config, str) else None
    except (json.JSONDecodeError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        raise GanbenchError(
            f"incompatible schema: the config column of the {where} is not a job config (JSON)"
        )
    return json.dumps({k: v for k, v in parsed.items() if k not in UNMATCHED_CONFIG_KEYS}, sort_keys=True)


def sides(frame: pd.DataFrame, where: str) -> dict[Key, Side]:
    """Group a records frame by row key; values of ok jobs with a finite value, notes on the rest."""
    check_columns(frame, f"{where} records")
    try:
        values = pd.to_numeric(frame["value"], errors="raise").to_numpy(np.float64)
    except (ValueError, TypeError):
        raise GanbenchError(
            f"incompatible schema: non-numeric values in the {where}'s value column"
        ) from None
    groups: dict[Key, tuple[list[float], list[str], list[str], list[tuple[str, str]], list[str]]] = {}
    rules: dict[Key, Rule] = {}
    for i, row in enumerate(frame.itertuples(index=False)):
        settings = row_settings(row.config, f"{where} records")
        key = (str(row.method), str(row.dataset), str(row.metric), settings)
        if key not in rules:
            rules[key] = _rule(row, f"{where} records")
        good, bad, jobs, flagged, unavailable = groups.setdefault(key, ([], [], [], [], []))
        job = getattr(row, "key", None) or f"seed {getattr(row, 'seed', '?')}"
        if row.status == "ok" and np.isfinite(values[i]):
            good.append(float(values[i]))
            jobs.append(job)
            flags = getattr(row, "flags", "")  # records.csv files before schema 4 have no flags
            if isinstance(flags, str) and flags:
                flagged += [(job, flag) for flag in flags.split(";")]
        elif row.status == "ok" and str(getattr(row, "note", "")).startswith(NOT_APPLICABLE):
            unavailable.append(str(row.note).removeprefix(NOT_APPLICABLE))
        else:
            bad.append(f"{job} {row.status}" if row.status != "ok" else f"{job} has no value")
    return {
        key: Side(
            np.asarray(good),
            tuple(bad),
            rules[key],
            tuple(dict.fromkeys(jobs)),
            tuple(dict.fromkeys(flagged)),
            tuple(dict.fromkeys(unavailable)),
        )
        for key, (good, bad, jobs, flagged, unavailable) in groups.items()
    }


def settings_id(settings: str) -> str:
    """The short id of a row's settings in reports: the first 8 hex digits of their SHA-256."""
    return hashlib.sha256(settings.encode("utf-8")).hexdigest()[:8]


def registry_rank(key: Key) -> tuple[Any, ...]:
    """Methods, datasets and metrics in registry order (unknown names after, by name), then settings."""
    ranks = []
    for registry, name in ((METHODS, key[0]), (DATASETS, key[1]), (METRICS, key[2])):
        names = registry.names()
        ranks.append((names.index(name), "") if name in names else (len(names), name))
    return (*ranks, key[3])
