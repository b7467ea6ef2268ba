"""The typed job record: what a run folder stores per job, for training jobs and throughput measurements.

A record is self-describing: every metric value travels with its unit, direction and tolerances, and
a training job's record carries what figures need of its dataset (modality, mixture centers), so
`report` and `compare` read a run folder without consulting today's registries.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

from ganbench.errors import GanbenchError

# 4: `batch` (the job keys trained together as one stacked model) replaced `seed_batch`, training
# configs name their random-stream scheme (`streams`), and 2-D jobs carry convergence `flags`.
# 3: typed records (kind, metric specs and dataset info stored with each record). 2 added
# `eval.reference_samples` to job configs. Older records are upgraded on read (ganbench.run.legacy).
SCHEMA_VERSION = 4

Status = Literal["ok", "diverged", "failed"]
RecordKind = Literal["train", "throughput"]
STATUSES: tuple[Status, ...] = get_args(Status)
# `ok` and `diverged` are results; `failed` (an exception, a dead worker) is retried on resume.
FINAL_STATUSES: tuple[Status, ...] = ("ok", "diverged")


@dataclass(frozen=True)
class MetricSpec:
    """What a reader needs to know of a metric: unit, direction and `compare`'s noise tolerances."""

    unit: str
    higher_is_better: bool
    rel_tol: float
    abs_tol: float
    description: str = ""


@dataclass(frozen=True)
class MetricResult:
    """One metric's value for one job, with its spec.

    `counts` holds the sample counts behind the value (FID and KID are biased at small n);
    `values` the repeats behind a median (a throughput measurement's timed blocks).
    """

    value: float
    spec: MetricSpec
    exact: bool = True
    note: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    values: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetInfo:
    """What figures need of a training job's dataset: its modality and, for mixtures, the centers."""

    modality: str
    centers: list[list[float]] | None = None


@dataclass
class Record:
    """One job's stored result. `kind` says which: a training job or a throughput measurement.

    `method` and `cell` place it in a table (rows methods, column groups cells): for a training
    job the cell is its dataset and `seed` its seed; for a throughput measurement the cell is the
    measured target at its batch size and `seed` is None (its repeats are the timed blocks).
    """

    kind: RecordKind
    key: str
    method: str
    cell: str
    seed: int | None
    config: dict[str, Any]
    metric_specs: dict[str, MetricSpec]  # every metric the job was to compute, computed or not
    status: Status = "ok"
    reason: str | None = None
    diverged_step: int | None = None
    metrics: dict[str, MetricResult] = field(default_factory=dict)
    dataset: DatasetInfo | None = None
    batch: list[str] = field(default_factory=list)  # the job keys trained with this one as one model
    flags: list[str] = field(default_factory=list)  # convergence flags (ganbench.metrics.validity)
    train_seconds: float | None = None
    eval_seconds: float | None = None
    wall_seconds: float | None = None
    losses: dict[str, list[float]] = field(default_factory=dict)  # "step", "d", "g"
    curves: dict[str, list[float]] = field(default_factory=dict)  # "step" plus tracked values
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific facts (throughput: peak fraction)
    manifest: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def fail(self, err: BaseException | str) -> None:
        """Mark the record failed with a one-line reason."""
        reason = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
        self.status, self.reason = "failed", (reason.splitlines() or [""])[0]

    def diverge(self, step: int | None, reason: str) -> None:
        """Mark the record diverged at `step` (a result, not retried)."""
        self.status, self.diverged_step, self.reason = "diverged", step, reason

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able data (NaN kept as NaN)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> Record:
        """A record from parsed JSON of the current schema; anything malformed is one GanbenchError."""
        if not isinstance(data, dict):
            raise GanbenchError(f"{where}: a job record must be a JSON object")
        schema = data.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise GanbenchError(f"{where}: schema must be an integer, got {schema!r}")
        if schema > SCHEMA_VERSION:
            raise GanbenchError(
                f"{where}: record schema {schema} is newer than this ganbench reads ({SCHEMA_VERSION}); "
                "upgrade ganbench"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise GanbenchError(f"{where}: unknown record fields {', '.join(unknown)}")
        try:
            values = dict(data)
            values["metric_specs"] = {
                name: MetricSpec(**_object(spec, f"metric_specs.{name}"))
                for name, spec in _object(data["metric_specs"], "metric_specs").items()
            }
            values["metrics"] = {
                name: MetricResult(
                    **{
                        **_object(result, f"metrics.{name}"),
                        "spec": MetricSpec(**_object(result["spec"], name)),
                    }
                )
                for name, result in _object(data.get("metrics", {}), "metrics").items()
            }
            if data.get("dataset") is not None:
                values["dataset"] = DatasetInfo(**_object(data["dataset"], "dataset"))
            record = cls(**values)
        except (KeyError, TypeError, _Malformed) as err:
            raise GanbenchError(f"{where}: malformed job record ({_describe(err)})") from None
        record.check(where)
        return record

    def check(self, where: str) -> None:
        """Types and values that readers rely on; a violation is one GanbenchError naming `where`."""
        problems = []
        if self.kind not in get_args(RecordKind):
            problems.append(f"kind {self.kind!r}")
        if self.status not in STATUSES:
            problems.append(f"status {self.status!r} (valid: {', '.join(STATUSES)})")
        for name in ("key", "method", "cell"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                problems.append(f"{name} {getattr(self, name)!r}")
        if not isinstance(self.config, dict):
            problems.append("config is not an object")
        for name, result in self.metrics.items():
            if not _is_number(result.value) or not all(_is_number(v) for v in result.values):
                problems.append(f"metrics.{name}.value is not a number")
        if self.losses:
            lengths = {len(v) if isinstance(v, list) else -1 for v in self.losses.values()}
            if len(lengths) != 1:
                problems.append("losses lists differ in length")
        if problems:
            raise GanbenchError(f"{where}: malformed job record ({'; '.join(problems)})")


class _Malformed(Exception):
    pass


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{what} is not an object")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) or value is None


def _describe(err: BaseException) -> str:
    if isinstance(err, KeyError):
        return f"missing field {err.args[0]!r}"
    return str(err).splitlines()[0]


def spec_of(metric: Any) -> MetricSpec:
    """The stored spec of a registered `Metric` (anything with its unit, direction and tolerances)."""
    return MetricSpec(
        metric.unit, metric.higher_is_better, metric.rel_tol, metric.abs_tol, metric.description
    )


def nan_result(spec: MetricSpec) -> MetricResult:
    """The placeholder of a metric a job did not compute (it diverged or failed)."""
    return MetricResult(math.nan, spec, exact=False)
