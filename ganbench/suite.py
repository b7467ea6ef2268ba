"""Suites: TOML files loaded into frozen dataclasses, validated, and expanded into Jobs."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ganbench
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
from ganbench.engine import streams
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS
from ganbench.models import ARCHITECTURES, METHODS, Hyperparameters
from ganbench.registry import suggest

if TYPE_CHECKING:
    from ganbench.throughput.spec import ThroughputSuite

# Editable installs read the repository's suites/; wheels carry a copy in ganbench/_suites.
SUITE_DIRS = (Path(ganbench.__file__).parent / "_suites", Path(ganbench.__file__).parents[1] / "suites")


# Upper bounds of the settings that memory or time grow with: each is far above any published protocol,
# so a value beyond it is a typo, refused before anything is created rather than dying mid-run.
MAX_STEPS = 10_000_000  # 25x PacGAN's 400,000, the longest protocol here; loss logs grow with steps
MAX_SAMPLES = 1_000_000  # 20x the 50,000 samples of the standard FID protocol
MAX_SEEDS = 1_000
MAX_JOBS = 100_000  # methods x datasets x seeds
# No tensor of samples may exceed this (images x channels x side^2 x 4 bytes): 32 GiB.
MAX_TENSOR_BYTES = 32 * 2**30


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


# Settings that change how a job runs or what it keeps, not its result: left out of `Job.config()`, so
# a run folder resumes, and `compare` matches, whatever they were.
NOT_CONFIG = ("checkpoint_every", "keep_generators")


def parse_key(key: str) -> tuple[str, str, int]:
    """(method, dataset, seed) of a job key `<method>__<dataset>__seed<N>`."""
    method, dataset, seed = key.split("__")
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

    @property
    def key(self) -> str:
        """A file-name-safe identifier, unique within a run folder."""
        return f"{self.method}__{self.dataset}__seed{self.seed}"

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
            "hyperparameters": dataclasses.asdict(self.hyperparameters),
            "dataset_params": dataclasses.asdict(self.dataset_params),
            "train": {k: v for k, v in dataclasses.asdict(self.train).items() if k not in NOT_CONFIG},
            "eval": {k: v for k, v in dataclasses.asdict(self.eval).items() if k not in NOT_CONFIG},
            "metrics": list(self.metrics),
            # The seed-derivation scheme fixes every draw: a folder of another scheme is not resumed.
            "streams": streams.SCHEME,
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

    def jobs(self) -> list[Job]:
        """Expand into Jobs, method-major, then dataset, then seed 0..seeds-1."""
        return [
            Job(
                self.name,
                m,
                d,
                seed,
                self.hyperparameters(m),
                self.dataset_params[d],
                self.train,
                self.eval,
                self.metrics,
            )
            for m in self.methods
            for d in self.datasets
            for seed in range(self.seeds)
        ]

    def shape(self) -> str:
        return f"{len(self.methods)} methods x {len(self.datasets)} datasets x {self.seeds} seeds"

    def hyperparameters(self, method: str) -> Hyperparameters:
        """The method's defaults with this suite's overrides applied."""
        return self.method_settings.get(method, METHODS.get(method).defaults)


@dataclass(frozen=True)
class _Top:
    """The suite file's top-level keys (tables are handled separately)."""

    name: str = ""
    description: str = ""
    seeds: int = field(default=3, metadata=at_least(1) | at_most(MAX_SEEDS))


_LIST_KEYS = {"methods": METHODS, "datasets": DATASETS, "metrics": METRICS}
_TABLES = ("train", "eval", "quick", "method", "dataset")


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


def load_suite(name_or_path: str) -> Suite | ThroughputSuite:
    """Read and validate a suite; every error names the file and the key.

    A file with `kind = "throughput"` is a throughput suite (`ganbench throughput` runs it).
    """
    path = find_suite(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise GanbenchError(f"{path}: invalid TOML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GanbenchError(f"{path}: cannot read: {err}") from None
    if data.get("kind") == "throughput":
        from ganbench.throughput.spec import parse_throughput_suite

        return parse_throughput_suite(data, str(path))
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
    top = build(_Top, {k: v for k, v in data.items() if k in ("name", "description", "seeds")}, f"{where}:")
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
    suite = Suite(
        name=folder_name(top.name, where) if top.name else sanitized_name(default_name),
        description=top.description,
        methods=lists["methods"],
        datasets=lists["datasets"],
        seeds=top.seeds,
        metrics=lists["metrics"],
        train=build(TrainSettings, tables["train"], f"{where}: train"),
        eval=build(EvalSettings, tables["eval"], f"{where}: eval"),
        quick=build(QuickSettings, tables["quick"], f"{where}: quick"),
        method_settings=method_settings,
        dataset_params=dataset_params,
    )
    _check_modalities(suite, where)
    check_budget(suite, where)
    check_budget(with_overrides(suite, quick=True), f"{where}: quick")
    return suite


def _sample_bytes(dataset: str, params: Any) -> int:
    """Bytes of one float32 sample of `dataset`: 2 numbers for points, channels x side^2 for images."""
    if DATASETS.get(dataset).modality == "points":
        return 2 * 4
    return int(getattr(params, "channels", 3)) * int(params.size) ** 2 * 4


def check_budget(suite: Suite, where: str) -> None:
    """Refuse budgets that cannot fit in memory or are typos: the job count, sample tensors, and
    each metric's own sample limit (exact W1's cost matrix grows with the square of the samples)."""
    jobs = len(suite.methods) * len(suite.datasets) * suite.seeds
    if jobs > MAX_JOBS:
        raise GanbenchError(f"{where}: {suite.shape()} is {jobs:,} jobs; at most {MAX_JOBS:,}")
    evaluation = suite.eval
    for dataset in suite.datasets:
        per_sample = _sample_bytes(dataset, suite.dataset_params[dataset])
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
    for metric in suite.metrics:
        limit = METRICS.get(metric).max_samples
        counts = [("eval.samples", evaluation.samples)]
        if suite.train.track_every:
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


def _check_modalities(suite: Suite, where: str) -> None:
    for dataset in suite.datasets:
        data_modality = DATASETS.get(dataset).modality
        for method in suite.methods:
            architecture = suite.hyperparameters(method).architecture
            if ARCHITECTURES.get(architecture).modality != data_modality:
                raise GanbenchError(
                    f"{where}: method '{method}' uses architecture '{architecture}', which does not apply "
                    f"to dataset '{dataset}' ({data_modality}); set [method.{method}] architecture = ..."
                )
        for metric in suite.metrics:
            if METRICS.get(metric).modality != data_modality:
                raise GanbenchError(
                    f"{where}: metric '{metric}' does not apply to dataset '{dataset}' ({data_modality})"
                )


def with_overrides(
    suite: Suite,
    *,
    methods: Sequence[str] | None = None,
    seeds: int | None = None,
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
        evaluation = dataclasses.replace(evaluation, samples=suite.quick.samples)
    if steps is not None:
        train = dataclasses.replace(train, steps=check_field("--steps", steps, TrainSettings, "steps"))
    changes: dict[str, Any] = {"train": train, "eval": evaluation}
    if seeds is not None:
        changes["seeds"] = check_field("--seeds", seeds, _Top, "seeds")
    if methods is not None:
        if not methods:
            raise GanbenchError("--methods: give at least one method name")
        for name in methods:
            METHODS.get(name)
        changes["methods"] = tuple(dict.fromkeys(methods))
    replaced = dataclasses.replace(suite, **changes)
    _check_modalities(replaced, "--methods")
    check_budget(replaced, "--seeds/--steps/--quick")
    return replaced
