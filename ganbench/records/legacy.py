"""Records of schemas 1 to 3 brought up to the typed record of today, so old run folders read.

Old records did not store their metrics' units, directions and tolerances nor their datasets'
centers; those are taken from the registries as they are now (with GANBENCH_PLUGINS and entry-point
plugins loaded), which is what the old code did on every read.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ganbench.errors import GanbenchError
from ganbench.records.record import LEGACY_SCHEME, DatasetInfo, MetricResult, Record, spec_of

# Schema 2 added `eval.reference_samples` to every job config (the image metrics' reference count);
# records of schema 1 get the value a suite that does not set it has now (EvalSettings' default).
# tests/test_store.py checks that the two defaults agree.
SCHEMA_2_REFERENCE_SAMPLES = 10_000
# Keys of a schema-2 throughput config that only made it look like a training job.
_THROUGHPUT_DISGUISE = ("dataset", "seed", "dataset_params", "kind")


def from_schema_3(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-3 record (parsed JSON) as schema-4 JSON: its seed batch as job keys, and a training
    job's config naming the stream scheme it was trained under."""
    data = dict(data)
    seeds = data.pop("seed_batch", None) or []
    config = data.get("config")
    if data.get("kind") == "train" and isinstance(config, dict):
        data["config"] = {**config, "streams": LEGACY_SCHEME}
        data["batch"] = [f"{data.get('method')}__{data.get('cell')}__seed{seed}" for seed in seeds]
    data["schema"] = 4
    return data


def upgrade(data: dict[str, Any], where: str) -> Record:
    """A schema 1 or 2 record (as parsed JSON) as a current `Record`."""
    from ganbench.metrics import METRICS

    try:
        config = dict(data["config"])
        if data.get("schema", 1) < 2 and config.get("kind") != "throughput":
            config["eval"] = {**config.get("eval", {}), "reference_samples": SCHEMA_2_REFERENCE_SAMPLES}
        if config.get("kind") != "throughput":
            config["streams"] = LEGACY_SCHEME
        specs = {name: spec_of(METRICS.get(name)) for name in config["metrics"]}
        throughput = config.get("kind") == "throughput"
        record = Record(
            kind="throughput" if throughput else "train",
            key=data["key"],
            method=config["method"],
            cell=config["dataset"],
            seed=None if throughput else config["seed"],
            config={k: v for k, v in config.items() if k not in _THROUGHPUT_DISGUISE}
            if throughput
            else config,
            metric_specs=specs,
            status=data["status"],
            reason=data.get("reason"),
            diverged_step=data.get("diverged_step"),
            metrics={
                name: MetricResult(
                    value=result["value"],
                    spec=specs[name],
                    exact=result.get("exact", True),
                    note=result.get("note", ""),
                    counts=result.get("counts", {}),
                    values=result.get("values", []),
                )
                for name, result in data.get("metrics", {}).items()
                if name in specs
            },
            dataset=None
            if throughput
            else _dataset_info(config["dataset"], config.get("dataset_params", {})),
            batch=[f"{config['method']}__{config['dataset']}__seed{s}" for s in data.get("seed_batch") or []],
            train_seconds=data.get("train_seconds"),
            eval_seconds=data.get("eval_seconds"),
            wall_seconds=data.get("wall_seconds"),
            losses=data.get("losses") or {},
            curves=data.get("curves") or {},
            extra={k: data[k] for k in ("fraction_of_peak", "architecture") if k in data},
            manifest=data.get("manifest") or {},
        )
    except GanbenchError as err:
        raise GanbenchError(f"{where}: {err}") from None
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        what = f"missing field {err.args[0]!r}" if isinstance(err, KeyError) else str(err).splitlines()[0]
        raise GanbenchError(
            f"{where}: malformed job record of schema {data.get('schema', 1)} ({what})"
        ) from None
    record.check(where)
    return record


def _dataset_info(name: str, params: dict[str, Any]) -> DatasetInfo:
    """The dataset's modality and, for 2-D mixtures, its centers (rebuilt from its parameters)."""
    from ganbench.data import DATASETS

    spec = DATASETS.get(name)
    if spec.modality != "points":
        return DatasetInfo(spec.modality)
    valid = {f.name for f in dataclasses.fields(spec.params)}
    dataset = spec.build(spec.params(**{k: v for k, v in params.items() if k in valid}))
    return DatasetInfo(spec.modality, dataset.centers.tolist())
