"""Suites: TOML files loaded into frozen dataclasses, validated, and expanded into Jobs."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import threading
import tomllib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ganbench
from ganbench import labels
from ganbench.config import (
    MAX_BATCH,
    MAX_DEPTH,
    MAX_LATENT_DIM,
    MAX_WIDTH,
    at_least,
    at_most,
    build,
    check_field,
    folder_name,
    sanitized_name,
    valid_keys,
)
from ganbench.data import DATASETS
from ganbench.errors import GanbenchError
from ganbench.limits import MAX_FIRST_SEED, MAX_JOBS, MAX_SAMPLES, MAX_SEEDS, MAX_STEPS, MAX_TENSOR_BYTES
from ganbench.metrics import METRICS
from ganbench.metrics.base import refusal
from ganbench.models import ARCHITECTURES, METHODS, Hyperparameters
from ganbench.models.base import identity
from ganbench.records.record import SCHEME
from ganbench.registry import suggest
from ganbench.tune import TuneSettings, check_seeds, parse_tune

# Editable installs read the repository's suites/; wheels carry a copy in ganbench/_suites.
SUITE_DIRS = (Path(ganbench.__file__).parent / "_suites", Path(ganbench.__file__).parents[1] / "suites")


@dataclass(frozen=True)
class TrainSettings:
    """Training budget and network size, shared by every job of a suite."""

    steps: int = field(default=2000, metadata=at_least(0) | at_most(MAX_STEPS))  # generator steps
    batch_size: int = field(default=256, metadata=at_least(1) | at_most(MAX_BATCH))
    latent_dim: int = field(default=2, metadata=at_least(1) | at_most(MAX_LATENT_DIM))
    width: int = field(default=128, metadata=at_least(1) | at_most(MAX_WIDTH))
    depth: int = field(default=3, metadata=at_least(0) | at_most(MAX_DEPTH))
    log_every: int = field(default=100, metadata=at_least(1))  # losses recorded every N steps
    # Training curves (loss, critic estimate, exact W1) every N steps; 0 turns them off.
    track_every: int = field(default=0, metadata=at_least(0))
    # Save the stacked training state every N steps (0: never), so an interrupted run resumes
    # mid-training. It changes when, not what: resumed runs give the same numbers, so it is not part
    # of a job's configuration (records keep it in `extra`).
    checkpoint_every: int = field(default=0, metadata=at_least(0))


@dataclass(frozen=True)
class EvalSettings:
    """How many samples each evaluation draws."""

    # VEEGAN and PacGAN evaluate 2,500
    samples: int = field(default=2500, metadata=at_least(1) | at_most(MAX_SAMPLES))
    # per point of a training curve
    track_samples: int = field(default=1000, metadata=at_least(1) | at_most(MAX_SAMPLES))
    # Image metrics: the first N real images of the dataset's split are the fixed reference (the same
    # for every seed and method, so its statistics are cached); 10,000 is the MNIST test split.
    reference_samples: int = field(default=10_000, metadata=at_least(1) | at_most(MAX_SAMPLES))
    # Keep each job's trained generator (generators/<key>.pt), so `ganbench eval --from-run` can score
    # it again later with other metrics; `ganbench run --keep-generators` sets it too.
    keep_generators: bool = False


@dataclass(frozen=True)
class QuickSettings:
    """The smaller budget that `--quick` substitutes, for smoke checks and CI."""

    steps: int = field(default=200, metadata=at_least(0) | at_most(MAX_STEPS))
    samples: int = field(default=500, metadata=at_least(1) | at_most(MAX_SAMPLES))
    # Training curves every N steps under --quick (0: the suite's own track_every), so that a smoke run
    # of a tracked suite still has enough points for the convergence verdict (and shows its flag).
    track_every: int = field(default=0, metadata=at_least(0))


# Settings that change how a job runs or what it keeps, not its result: left out of `Job.config()`, so
# a run folder resumes, and `compare` matches, whatever they were.
NOT_CONFIG = ("checkpoint_every", "keep_generators")


# Plain data of the settings objects that jobs share (every seed of a sweep point shares one of each),
# the least recently used dropped first: (conversion, id) -> (the object, kept alive so that no other
# object takes its id while it is here; its plain data, None where not all scalars).
_PLAIN: OrderedDict[tuple[Callable[[Any], dict[str, Any]], int], tuple[Any, dict[str, Any] | None]] = (
    OrderedDict()
)
_PLAIN_MOST = 4096
_PLAIN_LOCK = threading.Lock()
_SCALARS = (str, int, float, bool, type(None))


def _plain(convert: Callable[[Any], dict[str, Any]], settings: Any) -> dict[str, Any]:
    """`convert(settings)`, computed once per settings object (`dataclasses.asdict` is slow, and a run
    of 100,000 jobs asks for each job's config several times); a fresh dict on every call."""
    key = (convert, id(settings))
    with _PLAIN_LOCK:  # an executor plugin may run jobs on threads
        hit = _PLAIN.get(key)
        if hit is not None:
            _PLAIN.move_to_end(key)
        else:
            plain = convert(settings)
            # Only flat data is shared safely between copies: anything nested is converted every time.
            flat = all(type(v) in _SCALARS for v in plain.values())
            hit = _PLAIN[key] = (settings, plain if flat else None)
            if len(_PLAIN) > _PLAIN_MOST:
                _PLAIN.popitem(last=False)
    return dict(hit[1]) if hit[1] is not None else convert(settings)


def _as_dict(settings: Any) -> dict[str, Any]:
    """`dataclasses.asdict(settings)`, without its slow deep copy where every value is a scalar."""
    plain = {name: getattr(settings, name) for name in _field_names(type(settings))}
    return plain if all(type(v) in _SCALARS for v in plain.values()) else dataclasses.asdict(settings)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _configured(settings: Any) -> dict[str, Any]:
    """A train or eval table as a job's config holds it: without the NOT_CONFIG settings."""
    return {k: v for k, v in _as_dict(settings).items() if k not in NOT_CONFIG}


def parse_key(key: str) -> tuple[str, str, int]:
    """(method, dataset, seed) of a job key `<method>__<dataset>[__<settings>]__seed<N>`."""
    method, dataset, *_, seed = key.split("__")
    return method, dataset, int(seed.removeprefix("seed"))


@dataclass(frozen=True)
class Job:
    """One (method, dataset, seed) cell of a suite, with everything needed to run it."""

    suite: str
    method: str
    dataset: str
    seed: int
    hyperparameters: Hyperparameters
    dataset_params: Any  # the dataset's own frozen params dataclass
    train: TrainSettings
    eval: EvalSettings
    metrics: tuple[str, ...]
    # The settings of a sweep that tell this job from the method's others on the dataset
    # ("steps=1000", ganbench.labels); '' outside sweeps.
    label: str = ""

    @functools.cached_property  # a run start asks every job's key several times
    def key(self) -> str:
        """A file-name-safe identifier, unique within a run folder."""
        return labels.labelled_key(f"{self.method}__{self.dataset}__seed{self.seed}", self.label)

    def setup(self) -> dict[str, Any]:
        """`config()` without the seed and the dataset: what jobs trained as one stacked model share."""
        return {k: v for k, v in self.config().items() if k not in ("seed", "dataset", "dataset_params")}

    def config(self) -> dict[str, Any]:
        """The job's full configuration as plain JSON-able data."""
        return {
            "suite": self.suite,
            "method": self.method,
            "dataset": self.dataset,
            "seed": self.seed,
            "hyperparameters": _plain(identity, self.hyperparameters),
            "dataset_params": _plain(_as_dict, self.dataset_params),
            "train": _plain(_configured, self.train),
            "eval": _plain(_configured, self.eval),
            "metrics": list(self.metrics),
            # The seed-derivation scheme fixes every draw: a folder of another scheme is not resumed.
            "streams": SCHEME,
        }


@dataclass(frozen=True)
class Suite:
    """A validated suite: the grid methods x datasets x seeds and how to train and score it."""

    name: str
    description: str
    methods: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: int
    metrics: tuple[str, ...]
    train: TrainSettings
    eval: EvalSettings
    quick: QuickSettings
    method_settings: Mapping[str, Hyperparameters]  # resolved per method, overrides applied
    dataset_params: Mapping[str, Any]  # resolved per dataset, overrides applied
    # `[sweep]`: setting path ("train.steps", "method.gan.lr") -> the values every job runs at
    sweep: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    first_seed: int = 0
    # `[tune]`: the equal-budget search `ganbench tune` runs (ganbench.tune), None without one
    tune: TuneSettings | None = None
    # A tuning search's settings per method (ganbench.tune.search_suite): each runs as its own
    # setting; a method not listed runs at `hyperparameters(method)`.
    configurations: Mapping[str, tuple[Hyperparameters, ...]] = field(default_factory=dict)

    def jobs(self) -> list[Job]:
        """Expand into Jobs, method-major, then dataset, then each sweep setting, then each seed
        (first_seed .. first_seed + seeds - 1).

        A job's label names the swept settings that vary for its method and dataset (ganbench.labels).
        """
        points = [
            (m, d, setting) for m in self.methods for d in self.datasets for setting in self._settings(m, d)
        ]
        # A label never depends on the seed (labels.NOT_SETTINGS): one job per sweep point finds them all.
        firsts = [Job(self.name, m, d, self.first_seed, *setting, self.metrics) for m, d, setting in points]
        names = labels.settings_labels([job.config() for job in firsts])
        return [
            Job(self.name, m, d, seed, *setting, self.metrics, name)
            for (m, d, setting), name in zip(points, names, strict=True)
            for seed in range(self.first_seed, self.first_seed + self.seeds)
        ]

    def _settings(
        self, method: str, dataset: str
    ) -> list[tuple[Hyperparameters, Any, TrainSettings, EvalSettings]]:
        """(hyperparameters, dataset params, train, eval) of every sweep point of a method and dataset."""
        paths = [path for path in self.sweep if _sweeps(path, method, dataset)]
        points = []
        tried = self.configurations.get(method, (self.hyperparameters(method),))
        for hyperparameters, values in itertools.product(
            tried, itertools.product(*(self.sweep[p] for p in paths))
        ):
            parts = {
                "method": hyperparameters,
                "dataset": self.dataset_params[dataset],
                "train": self.train,
                "eval": self.eval,
            }
            for path, value in zip(paths, values, strict=True):
                table, name = path.split(".")[0], path.split(".")[-1]
                parts[table] = dataclasses.replace(parts[table], **{name: value})
            points.append((parts["method"], parts["dataset"], parts["train"], parts["eval"]))
        return points

    def settings_count(self, method: str, dataset: str) -> int:
        """How many settings a method runs on a dataset: sweep points x tuning configurations (1 with
        neither)."""
        tried = len(self.configurations.get(method, ((),)))
        return tried * math.prod(len(v) for path, v in self.sweep.items() if _sweeps(path, method, dataset))

    def job_count(self) -> int:
        """len(self.jobs()), without expanding them."""
        points = sum(self.settings_count(m, d) for m in self.methods for d in self.datasets)
        return points * self.seeds

    def shape(self) -> str:
        settings = max(self.settings_count(m, d) for m in self.methods for d in self.datasets)
        swept = f" x {settings} settings" if settings > 1 else ""
        return f"{len(self.methods)} methods x {len(self.datasets)} datasets{swept} x {self.seeds} seeds"

    def hyperparameters(self, method: str) -> Hyperparameters:
        """The method's defaults with this suite's overrides applied."""
        return self.method_settings.get(method, METHODS.get(method).defaults)


@dataclass(frozen=True)
class _Top:
    """The suite file's top-level keys (tables are handled separately)."""

    name: str = ""
    description: str = ""
    seeds: int = field(default=3, metadata=at_least(1) | at_most(MAX_SEEDS))
    # Seeds run are first_seed .. first_seed + seeds - 1: a rerun at other seeds (`--first-seed`)
    # draws a fresh sample of the same protocol, which is what `ganbench compare` judges against.
    first_seed: int = field(default=0, metadata=at_least(0) | at_most(MAX_FIRST_SEED))


_LIST_KEYS = {"methods": METHODS, "datasets": DATASETS, "metrics": METRICS}
_TABLES = ("train", "eval", "quick", "method", "dataset", "sweep", "tune")
# What `[sweep]` may vary: a training or evaluation setting, or one method's or dataset's own.
_SWEEP_TABLES = {"train": TrainSettings, "eval": EvalSettings, "method": Hyperparameters}


def _sweeps(path: str, method: str, dataset: str) -> bool:
    """Whether the sweep over `path` applies to this method and dataset."""
    table, *rest = path.split(".")
    if table == "method":
        return rest[0] == method
    if table == "dataset":
        return rest[0] == dataset
    return True


def find_suite(name_or_path: str) -> Path:
    """Resolve a suite name (`mode-collapse`) or a path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise GanbenchError(f"suite file not found: {path}")
        return path
    for folder in SUITE_DIRS:
        candidate = folder / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    known = suite_names()
    raise GanbenchError(
        f"unknown suite '{name_or_path}'{suggest(name_or_path, known)}; valid: {', '.join(known)}"
    )


def suite_names() -> list[str]:
    """Names of the suites that ship with ganbench."""
    for folder in SUITE_DIRS:
        if folder.is_dir():
            return sorted(p.stem for p in folder.glob("*.toml"))
    return []


def read_suite(name_or_path: str) -> tuple[Path, dict[str, Any]]:
    """A suite file's path and parsed TOML (errors name the file). `kind = "throughput"` marks a
    throughput suite (ganbench.throughput.spec reads those); any other file is a training suite."""
    path = find_suite(name_or_path)
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise GanbenchError(f"{path}: invalid TOML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GanbenchError(f"{path}: cannot read: {err}") from None


def is_throughput(data: Mapping[str, Any]) -> bool:
    """Whether a suite file's TOML is a throughput suite's."""
    return data.get("kind") == "throughput"


def load_suite(name_or_path: str) -> Suite:
    """Read and validate a training suite; every error names the file and the key."""
    path, data = read_suite(name_or_path)
    if is_throughput(data):
        name = data.get("name", path.stem)
        raise GanbenchError(f"'{name}' is a throughput suite: run it with `ganbench throughput`")
    return parse_suite(data, str(path), default_name=path.stem)


def parse_suite(data: Mapping[str, Any], where: str, default_name: str = "suite") -> Suite:
    """Validate the parsed TOML of a suite file; every error message starts with `where`."""
    try:
        return _parse_suite(data, where, default_name)
    except GanbenchError as err:
        message = str(err)
        raise GanbenchError(message if message.startswith(where) else f"{where}: {message}") from None


def _parse_suite(data: Mapping[str, Any], where: str, default_name: str) -> Suite:
    top_keys = {f.name for f in dataclasses.fields(_Top)} | set(_LIST_KEYS) | set(_TABLES)
    for key in data:
        if key not in top_keys:
            close = suggest(key, sorted(top_keys))
            raise GanbenchError(f"{where}: unknown key '{key}'{close}; {valid_keys(sorted(top_keys))}")
    top_values = {k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(_Top)}}
    top = build(_Top, top_values, f"{where}:")
    lists = {key: _names(data, key, where) for key in _LIST_KEYS}
    tables = {key: _table(data, key, where) for key in _TABLES}

    method_settings = {}
    for method, table in tables["method"].items():
        METHODS.get(method)
        settings = build(
            Hyperparameters,
            _as_table(table, f"{where}: method.{method}"),
            f"{where}: method.{method}",
            base=METHODS.get(method).defaults,
        )
        ARCHITECTURES.get(settings.architecture)
        method_settings[method] = settings
    for dataset in tables["dataset"]:
        DATASETS.get(dataset)
    dataset_params = {
        name: build(
            spec.params,
            _as_table(tables["dataset"].get(name, {}), f"{where}: dataset.{name}"),
            f"{where}: dataset.{name}",
        )
        for name, spec in ((n, DATASETS.get(n)) for n in DATASETS.names())
    }
    train = build(TrainSettings, tables["train"], f"{where}: train")
    evaluation = build(EvalSettings, tables["eval"], f"{where}: eval")
    suite = Suite(
        name=folder_name(top.name, where) if top.name else sanitized_name(default_name),
        description=top.description,
        methods=lists["methods"],
        datasets=lists["datasets"],
        seeds=top.seeds,
        first_seed=top.first_seed,
        metrics=lists["metrics"],
        train=train,
        eval=evaluation,
        quick=build(QuickSettings, tables["quick"], f"{where}: quick"),
        method_settings=method_settings,
        dataset_params=dataset_params,
    )
    suite = dataclasses.replace(suite, sweep=_parse_sweep(suite, tables["sweep"], f"{where}: sweep"))
    if "tune" in data:
        if suite.sweep:
            raise GanbenchError(f"{where}: a suite is either a [sweep] or a [tune] search, not both")
        tune = parse_tune(data["tune"], suite.methods, suite.metrics, f"{where}: tune")
        check_seeds(tune, suite.first_seed, suite.seeds, where)
        suite = dataclasses.replace(suite, tune=tune)
    _check_modalities(suite, where)
    check_budget(suite, where)
    check_budget(with_overrides(suite, quick=True), f"{where}: quick")
    return suite


def _parse_sweep(suite: Suite, table: Mapping[str, Any], where: str) -> dict[str, tuple[Any, ...]]:
    """`[sweep]`: each key a setting path, each value a non-empty list of distinct valid values."""
    sweep = {}
    for path, values in table.items():
        label = f'{where}."{path}"'
        parts = path.split(".")
        table_name = parts[0]
        if table_name in ("method", "dataset"):
            if len(parts) != 3:
                raise GanbenchError(f"{label}: write {table_name}.<name>.<setting>, e.g. 'method.gan.lr'")
            owner = parts[1]
            (METHODS if table_name == "method" else DATASETS).get(owner)
            if owner not in (suite.methods if table_name == "method" else suite.datasets):
                raise GanbenchError(f"{label}: the suite does not run {table_name} '{owner}'")
        elif table_name not in _SWEEP_TABLES or len(parts) != 2:
            raise GanbenchError(
                f"{label}: a sweep varies train.<setting>, eval.<setting>, method.<name>.<setting> or "
                "dataset.<name>.<setting>"
            )
        if parts[-1] in NOT_CONFIG:
            raise GanbenchError(f"{label}: {parts[-1]} changes no result, so it cannot be swept")
        if not isinstance(values, list) or not values:
            raise GanbenchError(f"{label} must be a non-empty list of values")
        cls = _sweep_class(suite, parts)
        fields = [f.name for f in dataclasses.fields(cls)]
        if parts[-1] not in fields:
            raise GanbenchError(
                f"{label}: unknown setting '{parts[-1]}'{suggest(parts[-1], fields)}; {valid_keys(fields)}"
            )
        checked = []
        for value in values:
            checked.append(check_field(label, value, cls, parts[-1]))
            try:
                labels.check_value(path, checked[-1])
            except ValueError as err:
                raise GanbenchError(f"{where}: {err}") from None
        if len({json.dumps(v) for v in checked}) != len(checked):
            raise GanbenchError(f"{label} lists a value twice")
        if parts[-1] == "architecture":  # each swept network family must read the suite's data
            for value in checked:
                _check_architecture(value, parts[1], suite.datasets, label)
        sweep[path] = tuple(checked)
    return sweep


def _sweep_class(suite: Suite, parts: list[str]) -> type:
    """The settings class that a sweep path varies a field of."""
    if parts[0] == "dataset":
        return type(suite.dataset_params[parts[1]])
    return _SWEEP_TABLES[parts[0]]


def sample_bytes(dataset: str, params: Any) -> int:
    """Bytes of one float32 sample of `dataset`: 2 numbers for points, channels x side^2 for images."""
    if DATASETS.get(dataset).modality == "points":
        return 2 * 4
    return int(getattr(params, "channels", 3)) * int(params.size) ** 2 * 4


def check_budget(suite: Suite, where: str) -> None:
    """Refuse budgets that cannot fit in memory or are typos: the job count, sample tensors, and
    each metric's own sample limit (exact W1's cost matrix grows with the square of the samples)."""
    jobs = suite.job_count()
    if jobs > MAX_JOBS:
        raise GanbenchError(f"{where}: {suite.shape()} is {jobs:,} jobs; at most {MAX_JOBS:,}")
    points = {
        (dataset, params, train.track_every, evaluation)
        for method in suite.methods
        for dataset in suite.datasets
        for _, params, train, evaluation in suite._settings(method, dataset)
    }  # each sweep point once: a sweep over n settings checks n, not n x methods
    for dataset, params, track_every, evaluation in points:
        check_evaluation(dataset, params, evaluation, suite.metrics, where, track_every)


def check_evaluation(
    dataset: str,
    params: Any,
    evaluation: EvalSettings,
    metrics: Sequence[str],
    where: str,
    track_every: int = 0,
) -> None:
    """The memory bounds of scoring one dataset (at one sweep point; `ganbench eval` too): the
    sample tensors and each metric's own sample limit (see `check_budget`)."""
    per_sample = sample_bytes(dataset, params)
    for name, count in (
        ("samples", evaluation.samples),
        ("reference_samples", evaluation.reference_samples),
    ):
        if count * per_sample > MAX_TENSOR_BYTES:
            gib, most = count * per_sample / 2**30, MAX_TENSOR_BYTES // per_sample
            raise GanbenchError(
                f"{where}: eval.{name} = {count:,} samples of {dataset} take {gib:.0f} GiB; "
                f"at most {MAX_TENSOR_BYTES // 2**30} GiB ({most:,} samples)"
            )
    for metric in metrics:
        limit = METRICS.get(metric).max_samples
        counts = [("eval.samples", evaluation.samples)]
        if track_every:
            counts.append(("eval.track_samples", evaluation.track_samples))
        for label, count in counts:
            if limit is not None and count > limit:
                raise GanbenchError(
                    f"{where}: {label} = {count:,} is more than metric '{metric}' can score ({limit:,})"
                )


def _names(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise GanbenchError(f"{where}: '{key}' must be a non-empty list of names")
    for name in value:
        _LIST_KEYS[key].get(name)
    if len(set(value)) != len(value):
        raise GanbenchError(f"{where}: '{key}' lists a name twice")
    return tuple(value)


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    return _as_table(data.get(key, {}), f"{where}: {key}")


def _as_table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise GanbenchError(f"{where} must be a table")
    return value


def _check_architecture(architecture: str, method: str, datasets: Sequence[str], where: str) -> None:
    """A method's architecture must exist and read the modality of every dataset it trains on."""
    for dataset in datasets:
        data_modality = DATASETS.get(dataset).modality
        if ARCHITECTURES.get(architecture).modality != data_modality:
            raise GanbenchError(
                f"{where}: method '{method}' uses architecture '{architecture}', which does not apply "
                f"to dataset '{dataset}' ({data_modality}); set [method.{method}] architecture = ..."
            )


def _check_modalities(suite: Suite, where: str) -> None:
    for method in suite.methods:
        _check_architecture(suite.hyperparameters(method).architecture, method, suite.datasets, where)
    for dataset in suite.datasets:
        data = DATASETS.get(dataset)
        offered = None  # the dataset's declared capabilities, asked once a metric needs one
        for metric in suite.metrics:
            spec = METRICS.get(metric)
            if spec.modality != data.modality:
                raise GanbenchError(
                    f"{where}: metric '{metric}' does not apply to dataset '{dataset}' ({data.modality})"
                )
            if spec.needs:
                offered = offered if offered is not None else data.offered(suite.dataset_params[dataset])
                if (missing := spec.unmet(offered)) is not None:
                    raise GanbenchError(f"{where}: " + refusal(f"metric '{metric}'", dataset, missing))


def with_overrides(
    suite: Suite,
    *,
    methods: Sequence[str] | None = None,
    seeds: int | None = None,
    first_seed: int | None = None,
    steps: int | None = None,
    quick: bool = False,
    keep_generators: bool = False,
) -> Suite:
    """Apply the CLI's overrides (`--quick` first, then `--steps`), each value checked."""
    train, evaluation = suite.train, suite.eval
    if keep_generators:
        evaluation = dataclasses.replace(evaluation, keep_generators=True)
    if quick:
        train = dataclasses.replace(train, steps=suite.quick.steps)
        if suite.quick.track_every and train.track_every:
            train = dataclasses.replace(train, track_every=suite.quick.track_every)
        evaluation = dataclasses.replace(evaluation, samples=suite.quick.samples)
    if steps is not None:
        train = dataclasses.replace(train, steps=check_field("--steps", steps, TrainSettings, "steps"))
    changes: dict[str, Any] = {"train": train, "eval": evaluation}
    # `--quick` and `--steps` give every job one budget: a sweep over what they set is dropped.
    overridden = {"train.steps"} if quick or steps is not None else set()
    overridden |= {"eval.samples"} if quick else set()
    changes["sweep"] = {path: values for path, values in suite.sweep.items() if path not in overridden}
    if seeds is not None:
        changes["seeds"] = check_field("--seeds", seeds, _Top, "seeds")
    if first_seed is not None:
        changes["first_seed"] = check_field("--first-seed", first_seed, _Top, "first_seed")
    if methods is not None:
        if not methods:
            raise GanbenchError("--methods: give at least one method name")
        for name in methods:
            METHODS.get(name)
        changes["methods"] = tuple(dict.fromkeys(methods))
    replaced = dataclasses.replace(suite, **changes)
    if replaced.tune is not None:
        check_seeds(replaced.tune, replaced.first_seed, replaced.seeds, "--seeds/--first-seed")
    _check_modalities(replaced, "--methods")
    check_budget(replaced, "--seeds/--steps/--quick")
    return replaced
