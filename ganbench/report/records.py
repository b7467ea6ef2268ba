"""Job records -> one tidy pandas row per job x metric."""

from __future__ import annotations

import json
import math

import pandas as pd

from ganbench import labels
from ganbench.data import DATASETS
from ganbench.metrics import METRICS
from ganbench.models import METHODS
from ganbench.records.record import Record

# `dataset` is a training job's dataset, or a throughput measurement's target at its batch size
# (the column group of the tables); `seed` is empty for throughput measurements.
COLUMNS = [
    "key",
    "kind",
    "suite",
    "method",
    "dataset",
    "settings",
    "seed",
    "metric",
    "value",
    "unit",
    "higher_is_better",
    "rel_tol",
    "abs_tol",
    "exact",
    "note",
    "n_generated",
    "n_reference",
    "status",
    "diverged_step",
    "reason",
    "flags",
    "train_seconds",
    "eval_seconds",
    "wall_seconds",
    "device",
    "torch",
    "git_sha",
    "config",
]


def records_frame(records: list[Record], settings: list[str] | None = None) -> pd.DataFrame:
    """Flatten job records into rows; jobs that did not finish `ok` get NaN values with their status.

    Units, directions and tolerances are the ones each record stored with its metrics. `settings` is
    each record's settings label (ganbench.labels; '' for all when None); where one is given, the
    `key` column carries it too (`gan__ring-8__steps=1000__seed0`), so that jobs of one method,
    dataset and seed at several settings stay apart.
    """
    settings = settings or [""] * len(records)
    rows = []
    for record, label in zip(records, settings, strict=True):
        session = record.manifest
        for metric, spec in record.metric_specs.items():
            result = record.metrics.get(metric)
            counts = result.counts if result else {}
            rows.append(
                {
                    "key": labels.labelled_key(record.key, label),
                    "kind": record.kind,
                    "suite": record.config.get("suite"),
                    "method": record.method,
                    "dataset": record.cell,
                    "settings": label,
                    "seed": record.seed,
                    "metric": metric,
                    "value": result.value if result else math.nan,
                    "unit": spec.unit,
                    "higher_is_better": spec.higher_is_better,
                    "rel_tol": spec.rel_tol,
                    "abs_tol": spec.abs_tol,
                    "exact": result.exact if result else False,
                    "note": result.note if result else "",
                    # FID and KID depend on the sample counts: they travel with every value.
                    "n_generated": counts.get("generated"),
                    "n_reference": counts.get("reference"),
                    "status": record.status,
                    "diverged_step": record.diverged_step,
                    "reason": record.reason,
                    # convergence flags of 2-D jobs, ";"-separated (ganbench.metrics.validity)
                    "flags": ";".join(record.flags),
                    "train_seconds": record.train_seconds,
                    "eval_seconds": record.eval_seconds,
                    "wall_seconds": record.wall_seconds,
                    "device": _field(session, "device", "name"),
                    "torch": _field(session, "versions", "torch"),
                    "git_sha": _field(session, "git", "sha"),
                    "config": json.dumps(record.config, sort_keys=True),
                }
            )
    return in_registry_order(pd.DataFrame(rows, columns=COLUMNS), then=["seed", "metric"])


def _field(manifest: dict, section: str, name: str) -> object:
    """manifest[section][name], or None where the (free-form) manifest has no such entry."""
    part = manifest.get(section)
    return part.get(name) if isinstance(part, dict) else None


def in_registry_order(frame: pd.DataFrame, then: list[str]) -> pd.DataFrame:
    """Rows sorted by method and dataset in registry order (gan, gan-ns, wgan, ...; ring-8,
    grid-25) and by settings label (numbers as numbers), then by the `then` columns (a `metric`
    column in metric-registry order): the same order for any run folder, whatever order its jobs
    finished in. Names no registry knows (a
    plugin's, when the plugin is not loaded) come after the known ones, in their own order."""
    registries = {"method": METHODS, "dataset": DATASETS, "metric": METRICS}
    columns = ["method", "dataset", *(["settings"] if "settings" in frame.columns else []), *then]
    ranks = {
        f"_{col}": frame[col].map({name: i for i, name in enumerate(registries[col].names())})
        if col in registries
        else frame[col].map(labels.order(list(frame[col])))
        if col == "settings"
        else frame[col]
        for col in columns
    }
    return (
        frame.assign(**ranks)
        .sort_values(list(ranks), kind="stable")
        .drop(columns=list(ranks))
        .reset_index(drop=True)
    )
