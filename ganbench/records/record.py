"""The typed job record: what a run folder stores per job, for training jobs and throughput measurements.

A record is self-describing: every metric value travels with its unit, direction and tolerances, and
a training job's record carries what figures need of its dataset (modality, mixture centers), so
`report` and `compare` read a run folder without consulting today's registries.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

from ganbench.errors import GanbenchError

# The random-stream scheme (ganbench.engine.streams), recorded in every job's config and in the
# manifest; a folder made under another scheme cannot be resumed with this one (its jobs would mix
# two schemes), but it still reads and reports.
SCHEME = "seedsequence-v1"
# Job configs of records older than the scheme (record schema < 4) used fixed offsets per purpose.
LEGACY_SCHEME = "offsets-v0"

# 4: `batch` (the job keys trained together as one stacked model) replaced `seed_batch`, training
# configs name their random-stream scheme (`streams`), and 2-D jobs carry convergence `flags`.
# 3: typed records (kind, metric specs and dataset info stored with each record). 2 added
# `eval.reference_samples` to job configs. Older records are upgraded on read (ganbench.records.legacy).
SCHEMA_VERSION = 4

Status = Literal["ok", "diverged", "failed"]
RecordKind = Literal["train", "throughput"]
STATUSES: tuple[Status, ...] = get_args(Status)
# `ok` and `diverged` are results; `failed` (an exception, a dead worker) is retried on resume.
FINAL_STATUSES: tuple[Status, ...] = ("ok", "diverged")
# Fields every stored record of schema 3 and later has; the others default when absent.
REQUIRED_FIELDS = ("schema", "kind", "key", "method", "cell", "seed", "config", "metric_specs", "status")
# A method, dataset or target name inside a job key: no "__" (the separator) nor an "_" next to
# one, no white space or path separator. Job keys: `<method>__<dataset>__seed<N>` (training,
# `ganbench.suite.parse_key`; a sweep's jobs carry their settings label before the seed,
# `<method>__<dataset>__<settings>__seed<N>`) and `<method>__<target>-b<N>` (throughput; schema-2 ones
# end in `__seed0`).
_NAME = r"[^\s/\\_](?:[^\s/\\_]|_(?!_))*"
TRAIN_KEY = re.compile(
    rf"(?P<method>{_NAME})__(?P<cell>{_NAME})(?:__(?P<settings>{_NAME}))?__seed(?P<seed>[0-9]+)"
)
THROUGHPUT_KEY = re.compile(rf"(?P<method>{_NAME})__(?P<cell>{_NAME}-b[0-9]+)(?:__seed[0-9]+)?")


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
        schema = check_schema(data.get("schema"), where)
        if schema != SCHEMA_VERSION:
            raise GanbenchError(f"{where}: record schema {schema} must be upgraded first (store.read_record)")
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            raise GanbenchError(f"{where}: malformed job record (missing field {missing[0]!r})")
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
        """Every field's type, and the key's form; a violation is one GanbenchError naming `where`."""
        problems = [what for holds, what in self._checks() if not holds]
        key_problem = None if problems else self._key_problem()  # needs the fields' types right
        if key_problem:
            problems.append(key_problem)
        if problems:
            raise GanbenchError(f"{where}: malformed job record ({'; '.join(problems)})")

    def _checks(self) -> list[tuple[bool, str]]:
        """(holds, what is wrong otherwise) for every field."""
        checks = [
            (self.kind in get_args(RecordKind), f"kind {self.kind!r}"),
            (self.status in STATUSES, f"status {self.status!r} (valid: {', '.join(STATUSES)})"),
            (self.seed is None if self.kind == "throughput" else _is_int(self.seed), f"seed {self.seed!r}"),
            (isinstance(self.config, dict), "config is not an object"),
            (self.reason is None or isinstance(self.reason, str), "reason is not a string"),
            (self.diverged_step is None or _is_int(self.diverged_step), "diverged_step is not an integer"),
            (_is_list(self.batch, _is_str), "batch is not a list of job keys"),
            (_is_list(self.flags, _is_str), "flags is not a list of strings"),
            (_is_table(self.losses, ("step", "d", "g")), "losses are not step, d and g lists of one length"),
            (_is_table(self.curves, ("step",)), "curves are not number lists of one length with step"),
            (isinstance(self.extra, dict), "extra is not an object"),
            (isinstance(self.manifest, dict), "manifest is not an object"),
            (_is_int(self.schema), f"schema {self.schema!r}"),
        ]
        for name in ("key", "method", "cell"):
            checks.append((_is_str(getattr(self, name)), f"{name} {getattr(self, name)!r}"))
        for name in ("train_seconds", "eval_seconds", "wall_seconds"):
            checks.append((_is_number(getattr(self, name)), f"{name} is not a number"))
        for name, spec in self.metric_specs.items():
            checks.append((_is_spec(spec), f"metric_specs.{name} is not a metric spec"))
        for name, result in self.metrics.items():
            checks += [
                (_is_number(result.value), f"metrics.{name}.value is not a number"),
                (_is_list(result.values, _is_number), f"metrics.{name}.values are not numbers"),
                (_is_spec(result.spec), f"metrics.{name}.spec is not a metric spec"),
                (isinstance(result.exact, bool), f"metrics.{name}.exact is not true or false"),
                (_is_str(result.note), f"metrics.{name}.note is not a string"),
                (_is_dict(result.counts, _is_int), f"metrics.{name}.counts are not integers"),
            ]
        if self.dataset is not None:
            centers = self.dataset.centers
            points = centers is None or _is_list(centers, _is_point) and len(centers) > 0
            checks += [
                (_is_str(self.dataset.modality), "dataset.modality is not a string"),
                (points, "dataset.centers are not 2-D points"),
            ]
        return checks

    def _key_problem(self) -> str | None:
        """What is wrong with the key for the record's kind, method, cell and seed; None when nothing."""
        if self.kind == "train":
            match, form = TRAIN_KEY.fullmatch(self.key), "<method>__<dataset>[__<settings>]__seed<N>"
            expected = {"method": self.method, "cell": self.cell, "seed": str(self.seed)}
        else:
            match, form = THROUGHPUT_KEY.fullmatch(self.key), "<method>__<target>-b<N>"
            expected = {"method": self.method, "cell": self.cell}
        if match is None:
            return f"key {self.key!r} is not a {self.kind} job key ({form})"
        wrong = [f"{name} {value!r}" for name, value in expected.items() if match[name] != value]
        return f"key {self.key!r} does not match the record's {', '.join(wrong)}" if wrong else None


class _Malformed(Exception):
    pass


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{what} is not an object")
    return value


def check_schema(schema: Any, where: str) -> int:
    """A record's schema number, or one GanbenchError when it is not one this ganbench reads."""
    if not _is_int(schema) or schema < 1:
        raise GanbenchError(f"{where}: schema must be a positive integer, got {schema!r}")
    if schema > SCHEMA_VERSION:
        raise GanbenchError(
            f"{where}: record schema {schema} is newer than this ganbench reads ({SCHEMA_VERSION}); "
            "upgrade ganbench"
        )
    return schema


def _is_int(value: Any) -> bool:
    """An integer that fits 64 bits (what pandas and numpy hold without falling back to objects)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _is_real(value: Any) -> bool:
    """A JSON number that is a float (an integer too large for one is not)."""
    return isinstance(value, float) or _is_int(value)


def _is_number(value: Any) -> bool:
    """A JSON number, or null (what a record holds where a value is missing)."""
    return value is None or _is_real(value)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_point(value: Any) -> bool:
    """A 2-D point of finite coordinates."""
    return _is_list(value, lambda v: _is_real(v) and math.isfinite(v)) and len(value) == 2


def _is_list(value: Any, item: Callable[[Any], bool]) -> bool:
    """A list whose items all pass `item`."""
    return isinstance(value, list) and all(item(v) for v in value)


def _is_dict(value: Any, item: Callable[[Any], bool]) -> bool:
    """An object whose values all pass `item`."""
    return isinstance(value, dict) and all(item(v) for v in value.values())


def _is_table(value: Any, columns: tuple[str, ...]) -> bool:
    """Empty, or lists of numbers of one length, `columns` among them (losses, curves)."""
    if value == {}:
        return True
    lists = _is_dict(value, lambda v: _is_list(v, _is_number))
    return lists and set(columns) <= set(value) and len({len(v) for v in value.values()}) == 1


def _is_spec(spec: Any) -> bool:
    return (
        isinstance(spec, MetricSpec)
        and _is_str(spec.unit)
        and isinstance(spec.higher_is_better, bool)
        and _is_real(spec.rel_tol)
        and _is_real(spec.abs_tol)
        and spec.rel_tol >= 0
        and spec.abs_tol >= 0
        and _is_str(spec.description)
    )


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
