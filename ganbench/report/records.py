"""Job records -> one tidy pandas row per job x metric."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from ganbench.data import DATASETS
from ganbench.metrics import METRICS
from ganbench.models import METHODS

COLUMNS = [
    "key",
    "suite",
    "method",
    "dataset",
    "seed",
    "metric",
    "value",
    "unit",
    "higher_is_better",
    "exact",
    "note",
    "n_generated",
    "n_reference",
    "status",
    "diverged_step",
    "reason",
    "train_seconds",
    "eval_seconds",
    "wall_seconds",
    "device",
    "torch",
    "git_sha",
    "config",
]


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Flatten job records into rows; jobs that did not finish `ok` get NaN values with their status."""
    rows = []
    for record in records:
        config = record["config"]
        session = record.get("manifest", {})
        for metric in config["metrics"]:
            result = record["metrics"].get(metric, {"value": math.nan, "exact": False, "note": ""})
            spec = METRICS.get(metric)
            rows.append(
                {
                    "key": record["key"],
                    "suite": config["suite"],
                    "method": config["method"],
                    "dataset": config["dataset"],
                    "seed": config["seed"],
                    "metric": metric,
                    "value": result["value"],
                    "unit": spec.unit,
                    "higher_is_better": spec.higher_is_better,
                    "exact": result["exact"],
                    "note": result["note"],
                    # FID and KID depend on the sample counts: they travel with every value.
                    "n_generated": result.get("counts", {}).get("generated"),
                    "n_reference": result.get("counts", {}).get("reference"),
                    "status": record["status"],
                    "diverged_step": record["diverged_step"],
                    "reason": record["reason"],
                    "train_seconds": record["train_seconds"],
                    "eval_seconds": record["eval_seconds"],
                    "wall_seconds": record["wall_seconds"],
                    "device": session.get("device", {}).get("name"),
                    "torch": session.get("versions", {}).get("torch"),
                    "git_sha": session.get("git", {}).get("sha"),
                    "config": json.dumps(config, sort_keys=True),
                }
            )
    return in_registry_order(pd.DataFrame(rows, columns=COLUMNS), then=["seed", "metric"])


def in_registry_order(frame: pd.DataFrame, then: list[str]) -> pd.DataFrame:
    """Rows sorted by method and dataset in registry order (gan, gan-ns, wgan, ...; ring-8,
    grid-25), then by the `then` columns (a `metric` column in metric-registry order): the same
    order for any run folder, whatever order its jobs finished in."""
    registries = {"method": METHODS, "dataset": DATASETS, "metric": METRICS}
    ranks = {
        f"_{col}": frame[col].map({name: i for i, name in enumerate(registries[col].names())})
        if col in registries
        else frame[col]
        for col in ["method", "dataset", *then]
    }
    return (
        frame.assign(**ranks)
        .sort_values(list(ranks), kind="stable")
        .drop(columns=list(ranks))
        .reset_index(drop=True)
    )
