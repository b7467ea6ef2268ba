"""Dashboard exports: a run's values as the JSON that github-action-benchmark and Bencher read."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganbench.errors import GanbenchError
from ganbench.labels import settings_labels
from ganbench.metrics import METRICS

# The row key `ganbench compare` judges by (method x dataset x metric x settings), so that an entry
# carries the verdict of exactly its own row.
from ganbench.report.compare import load_rows, row_settings, settings_id
from ganbench.report.records import in_registry_order

GITHUB_ACTION_BENCHMARK = "github-action-benchmark"
BENCHER = "bencher"
EXPORT_FORMATS = (GITHUB_ACTION_BENCHMARK, BENCHER)
# github-action-benchmark reads one direction per file (its `tool` input is customBiggerIsBetter or
# customSmallerIsBetter), so its export is two files; Bencher's format holds every metric in one.
BIGGER_FILE = "github-action-benchmark-bigger.json"
SMALLER_FILE = "github-action-benchmark-smaller.json"
BENCHER_FILE = "bencher.json"


@dataclass(frozen=True)
class Entry:
    """One benchmark x metric of a run: the finite values of its ok jobs (seeds, or a throughput
    measurement's timed repeats), with the metric's unit and direction as the records stored them."""

    benchmark: str  # "wgan-gp / ring-8", with " / <settings label>" where the run varies settings
    metric: str
    unit: str
    higher_is_better: bool
    values: tuple[float, ...]
    counted: str  # what the values are: "seeds" or "repeats"
    without_value: int = 0  # jobs of this row that diverged, failed, or gave no finite value
    verdict: str | None = None  # `ganbench compare`'s judgement of the row, when exported by compare

    @property
    def name(self) -> str:
        """'wgan-gp / ring-8 / w1': the benchmark and the metric."""
        return f"{self.benchmark} / {self.metric}"

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float | None:
        """The sample standard deviation (ddof 1, as summary.csv's std); None for a single value."""
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else None

    @property
    def extra(self) -> str:
        """'n=3 seeds; verdict: regressed' ('n=5 repeats' for a throughput measurement), with the jobs
        of the row that gave no value when there are any."""
        n = len(self.values)
        parts = [f"n={n} {self.counted if n > 1 else self.counted.removesuffix('s')}"]
        if self.without_value:
            parts.append(f"{self.without_value} job{'s' if self.without_value > 1 else ''} without a value")
        if self.verdict is not None:
            parts.append(f"verdict: {self.verdict}")
        return "; ".join(parts)


def entries(
    frame: pd.DataFrame,
    verdicts: Mapping[tuple[str, str, str, str], str] | None = None,
    methods: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> list[Entry]:
    """The entries of a records frame (as `compare.load_rows` returns it), in registry order.

    A row whose jobs gave no finite value (every seed diverged, a FLOP count that could not be
    computed) is left out: JSON has no NaN, and a dashboard has nothing to plot. `verdicts` maps
    (method, dataset, metric, settings_id) to compare's judgement of that row. Settings labels are
    derived from the configs of the whole frame, before `methods` and `metrics` select rows, as
    `ganbench report` derives them, so a benchmark keeps its name whichever rows are exported.
    """
    frame = frame.reset_index(drop=True)
    settings = [row_settings(config, "records") for config in frame["config"]]
    labels = settings_labels(
        [
            {**json.loads(s), "method": m, "dataset": d}
            for s, m, d in zip(settings, frame.method, frame.dataset, strict=True)
        ]
    )
    frame = frame.assign(settings_json=settings, settings=labels)
    if methods:
        frame = frame[frame.method.isin(methods)]
    if metrics:
        frame = frame[frame.metric.isin(metrics)]
    columns = ["method", "dataset", "settings", "metric", "settings_json"]
    groups = {key: group for key, group in frame.groupby(columns, sort=False)}
    order = in_registry_order(pd.DataFrame(list(groups), columns=columns), then=["metric"])
    found = [
        _entry(groups[key], (verdicts or {}).get(_verdict_key(key)))
        for key in order[columns].itertuples(index=False, name=None)
    ]
    return [entry for entry in found if entry is not None]


def entries_of_runs(
    roots: Sequence[Path], methods: Sequence[str] | None = None, metrics: Sequence[str] | None = None
) -> list[Entry]:
    """The entries of one or more run folders merged (what `ganbench report` exports)."""
    frame = pd.concat([load_rows(root) for root in roots], ignore_index=True)
    return entries(frame, methods=methods, metrics=metrics)


def github_action_benchmark(found: Sequence[Entry]) -> dict[str, list[dict[str, Any]]]:
    """github-action-benchmark's custom entries, split by direction: {"bigger": [...], "smaller": [...]}.

    Each entry is {"name", "unit", "value", "range", "extra"}: value the mean, range "± <sample
    standard deviation>" to 3 significant digits (absent for a single value), extra the count of
    values (and the verdict).
    """
    split: dict[str, list[dict[str, Any]]] = {"bigger": [], "smaller": []}
    for entry in found:
        item: dict[str, Any] = {"name": entry.name, "unit": entry.unit, "value": entry.mean}
        if entry.std is not None:
            # 3 significant digits without an exponent (a spread of 1234 img/s reads "± 1230").
            spread = np.format_float_positional(
                entry.std, precision=3, unique=False, fractional=False, trim="-"
            )
            item["range"] = f"± {spread}"
        item["extra"] = entry.extra
        split["bigger" if entry.higher_is_better else "smaller"].append(item)
    return split


def bencher(found: Sequence[Entry]) -> dict[str, dict[str, dict[str, float]]]:
    """Bencher Metric Format: {benchmark: {metric slug: {"value", "lower_value", "upper_value"}}},
    value the mean, lower and upper the smallest and largest value (absent for a single value)."""
    bmf: dict[str, dict[str, dict[str, float]]] = {}
    for entry in found:
        metric = {"value": entry.mean}
        if len(entry.values) > 1:
            metric |= {"lower_value": min(entry.values), "upper_value": max(entry.values)}
        bmf.setdefault(entry.benchmark, {})[entry.metric] = metric
    return bmf


def write(found: Sequence[Entry], fmt: str, folder: Path) -> list[Path]:
    """Write the export `fmt` into `folder` (made if absent): BIGGER_FILE and SMALLER_FILE (both,
    even when one direction has no entry, so that the names never change), or BENCHER_FILE."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == GITHUB_ACTION_BENCHMARK:
        split = github_action_benchmark(found)
        payloads = {BIGGER_FILE: split["bigger"], SMALLER_FILE: split["smaller"]}
    elif fmt == BENCHER:
        payloads = {BENCHER_FILE: bencher(found)}
    else:
        raise GanbenchError(f"unknown export '{fmt}'; valid: {', '.join(EXPORT_FORMATS)}")
    files = []
    for name, payload in payloads.items():
        # allow_nan=False: a NaN that slipped through would be invalid JSON for the dashboard.
        text = json.dumps(payload, indent=1, ensure_ascii=False, allow_nan=False)
        path = folder / name
        path.write_text(text + "\n", encoding="utf-8")
        files.append(path)
    return files


def written(fmt: str, found: Sequence[Entry], files: Sequence[Path]) -> str:
    """One line naming the files written, and for Bencher, which boundary each metric's threshold
    needs (BMF has no direction: a Bencher threshold's boundary sets it)."""
    folder = files[0].parent if files else Path(".")
    count = f"{len(found)} {'entry' if len(found) == 1 else 'entries'}"
    line = f"wrote {', '.join(path.name for path in files)} ({count}) in {folder}"
    if fmt == BENCHER:
        smaller = list(dict.fromkeys(e.metric for e in found if not e.higher_is_better))
        bigger = list(dict.fromkeys(e.metric for e in found if e.higher_is_better))
        line += (
            f"; smaller is better (threshold upper boundary): {', '.join(smaller) or 'none'}"
            f"; bigger is better (lower boundary): {', '.join(bigger) or 'none'}"
        )
    return line


def verdicts_of(rows: Sequence[Any]) -> dict[tuple[str, str, str, str], str]:
    """(method, dataset, metric, settings_id) -> verdict, from compare's RowVerdicts."""
    return {(r.method, r.dataset, r.metric, r.settings_id): r.verdict for r in rows}


def _verdict_key(key: tuple[str, str, str, str, str]) -> tuple[str, str, str, str]:
    method, dataset, _, metric, settings = key
    return method, dataset, metric, settings_id(settings)


def _entry(group: pd.DataFrame, verdict: str | None) -> Entry | None:
    """A group's entry, or None where no ok job gave a finite value."""
    values = pd.to_numeric(group["value"], errors="coerce").to_numpy(np.float64)
    good = (group["status"] == "ok").to_numpy() & np.isfinite(values)
    if not good.any():
        return None
    first = group.iloc[0]
    metric = str(first["metric"])
    higher, unit = _stored(first, metric)
    jobs = group["key"].to_numpy() if "key" in group else np.arange(len(group))
    seeds = group["seed"] if "seed" in group else pd.Series(math.nan, index=group.index)
    return Entry(
        benchmark=" / ".join(part for part in (first["method"], first["dataset"], first["settings"]) if part),
        metric=metric,
        unit=unit,
        higher_is_better=higher,
        values=tuple(float(v) for v in values[good]),
        # Throughput measurements have no seed: their values are one job's timed repeats.
        counted="seeds" if seeds[good].notna().all() else "repeats",
        without_value=len(set(jobs[~good]) - set(jobs[good])),
        verdict=verdict,
    )


def _stored(row: pd.Series, metric: str) -> tuple[bool, str]:
    """The direction and unit stored with the records; the registry's where a records.csv from
    before schema 3 lacks the direction, or its unit cell is empty (read back as NaN)."""
    higher = str(row.get("higher_is_better", "")).lower()
    unit = row.get("unit")
    if higher not in ("true", "false"):
        higher = "true" if METRICS.get(metric).higher_is_better else "false"
    if not isinstance(unit, str):
        unit = METRICS.get(metric).unit if metric in METRICS.names() else ""
    return higher == "true", unit
