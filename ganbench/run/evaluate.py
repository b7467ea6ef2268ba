"""What `ganbench eval` scores (a generator, sample files or kept generators) as tasks, and scoring one.

The command itself (folder, store, report) is ganbench.app.evaluate.

Every source ends in an ordinary run folder: one record per (label, dataset, seed), scored by the same
function as a trained job (`ganbench.run.worker.score`) with the same reference streams, so `report`,
`compare` and `report --against` read it unchanged, and `report` can merge it with trained runs.
Everything is loaded and checked before the folder is made (a generator also runs on a test batch):
a bad input writes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganbench import plugins
from ganbench.config import build, check_field
from ganbench.data import DATASETS
from ganbench.data.base import Dataset
from ganbench.engine.streams import SCHEME
from ganbench.engine.train import generate
from ganbench.errors import GanbenchError
from ganbench.labels import settings_of_key
from ganbench.limits import MAX_SAMPLES, MAX_SEEDS, MAX_TENSOR_BYTES
from ganbench.metrics import METRICS
from ganbench.models import Hyperparameters
from ganbench.records.record import Record, spec_of
from ganbench.records.store import RunStore
from ganbench.registry import NAME_PATTERN
from ganbench.run import generators
from ganbench.run.worker import dataset_info, score, stored_samples
from ganbench.suite import (
    NOT_CONFIG,
    EvalSettings,
    Job,
    Suite,
    TrainSettings,
    check_evaluation,
    load_suite,
    sample_bytes,
)

# Latent codes in the test batch a generator runs on before anything is written: two, so that a batch
# dimension squeezed away or a BatchNorm layer left in training mode shows.
PROBE_BATCH = 2


@dataclass(frozen=True)
class Source:
    """What to score: a generator factory (with checkpoints), sample files, or a run's kept generators."""

    generator: str | None = None  # "package.module:factory"
    latent_dim: int | None = None
    checkpoints: tuple[Path, ...] = ()
    samples: tuple[Path, ...] = ()
    from_run: Path | None = None


@dataclass
class Task:
    """One record to make: its job (seed, dataset, evaluation settings, metrics) and how to get samples."""

    job: Job
    config: dict[str, Any]
    draw: Callable[[torch.device, Dataset], np.ndarray]  # the float32 samples to score
    extra: dict[str, Any]


def plan(
    source: Source,
    *,
    suite: str | None = None,
    dataset: str | None = None,
    metrics: Sequence[str] | None = None,
    label: str | None = None,
    seeds: int | None = None,
) -> list[Task]:
    """The scoring tasks of `source`, checked against the bounds `run` enforces before anything is
    written (plugins loaded first: they register datasets and metrics)."""
    plugins.load()
    kinds = [bool(source.generator), bool(source.samples), source.from_run is not None]
    if sum(kinds) != 1:
        raise GanbenchError("give exactly one of --generator, --samples and --from-run")
    if seeds is not None:
        if not source.generator:
            raise GanbenchError(
                "--seeds is for --generator (sample files and kept generators have their own)"
            )
        if isinstance(seeds, bool) or not 1 <= seeds <= MAX_SEEDS:
            raise GanbenchError(f"--seeds must be 1..{MAX_SEEDS:,} (got {seeds})")
    if source.from_run is not None:
        tasks = _from_run(source.from_run, metrics)
    else:
        tasks = _new_source(source, suite, dataset, metrics, label, seeds)
    for task in tasks:
        job = task.job
        check_evaluation(job.dataset, job.dataset_params, job.eval, job.metrics, f"{job.key}:")
    return tasks


def score_task(task: Task, device: torch.device, session: dict[str, Any]) -> tuple[Record, np.ndarray | None]:
    """One record: draw the samples, check them, score them; a failure is recorded, not raised."""
    job, started = task.job, time.perf_counter()
    record = Record(
        kind="train", key=job.key, method=job.method, cell=job.dataset, seed=job.seed, config=task.config,
        metric_specs={name: spec_of(METRICS.get(name)) for name in job.metrics}, batch=[job.key],
        extra=dict(task.extra), manifest=session,
    )  # fmt: skip
    dataset = DATASETS.get(job.dataset).build(job.dataset_params)
    record.dataset = dataset_info(dataset)
    samples = None
    try:
        samples = task.draw(device, dataset)
        if not np.isfinite(samples).all():
            record.diverge(None, "samples are NaN or infinite")
        else:
            score(samples, dataset, job, device, record)
    except (Exception, SystemExit) as err:  # noqa: BLE001 - as for trained jobs: recorded, the others go on
        # SystemExit too: a generator's `sys.exit()` must not end ganbench silently with a plan and no record.
        record.fail(
            err if isinstance(err, Exception) else RuntimeError(f"the generator called sys.exit({err.code})")
        )
        samples = None  # what failed is not kept: the folder keeps only samples its reader accepts
    record.eval_seconds = record.wall_seconds = time.perf_counter() - started
    return record, None if samples is None else stored_samples(samples, dataset)


def _new_source(
    source: Source,
    suite_name: str | None,
    dataset: str | None,
    metrics: Sequence[str] | None,
    label: str | None,
    seeds: int | None,
) -> list[Task]:
    """Tasks for a generator factory or sample files, on the suite's (or the named) datasets."""
    suite = _suite(suite_name)
    datasets = [dataset] if dataset else list(suite.datasets) if suite else []
    if not datasets:
        raise GanbenchError("give --suite NAME|PATH or --dataset NAME (with --metrics)")
    plan = _Plan(suite.name if suite else "eval", _label(label, source), suite, metrics)
    if source.samples:
        if len(datasets) != 1:
            raise GanbenchError(
                f"sample files are of one dataset: give --dataset (one of {', '.join(datasets)})"
            )
        return _sample_tasks(plan, datasets[0], source.samples)
    return _generator_tasks(plan, datasets, source, seeds)


@dataclass(frozen=True)
class _Plan:
    """What every task of one `eval` shares: the suite's name, the label, the suite, the metrics asked for."""

    suite_name: str
    label: str
    suite: Suite | None
    metrics: Sequence[str] | None

    def params(self, dataset: str) -> Any:
        """The dataset's parameters: the suite's, else the dataset's defaults."""
        return self.suite.dataset_params[dataset] if self.suite else DATASETS.get(dataset).params()

    def job(self, dataset: str, seed: int, samples: int | None = None) -> Job:
        """What `score` needs of a job: the seed, dataset, evaluation settings and metrics."""
        params = self.params(dataset)
        evaluation = self.suite.eval if self.suite else EvalSettings()
        if samples is not None:  # a file's own count
            evaluation = dataclasses.replace(evaluation, samples=samples)
        return Job(self.suite_name, self.label, dataset, seed, Hyperparameters(), params, TrainSettings(),
                   evaluation, self.metrics_for(dataset))  # fmt: skip

    def metrics_for(self, dataset: str) -> tuple[str, ...]:
        """--metrics, else the suite's metrics that fit the dataset."""
        modality = DATASETS.get(dataset).modality
        if self.metrics:
            wanted = tuple(self.metrics)
        elif self.suite is not None:
            wanted = tuple(m for m in self.suite.metrics if METRICS.get(m).modality == modality)
        else:
            raise GanbenchError("give --metrics (or --suite, whose metrics are used)")
        _check_metrics(wanted, modality)
        return wanted


def _sample_tasks(plan: _Plan, dataset: str, paths: Sequence[Path]) -> list[Task]:
    """One task per file or folder (seed i is the i-th), each loaded and checked now."""
    from ganbench.data.external import load_samples

    params = plan.params(dataset)
    data = DATASETS.get(dataset).build(params)
    wanted = plan.metrics_for(dataset)
    need = max(METRICS.get(name).min_samples for name in wanted)
    most = _most_samples(dataset, params, wanted)
    tasks = []
    for seed, path in enumerate(paths):
        samples = load_samples(path, data, need, name=dataset, most=most).astype(np.float32)
        job = plan.job(dataset, seed, len(samples))
        tasks.append(Task(job, _config(job, {"kind": "samples"}), lambda *_, s=samples: s, _input(path)))
    return tasks


def _most_samples(dataset: str, params: Any, metrics: Sequence[str]) -> tuple[int, str]:
    """The most samples of `dataset` these metrics may score, and the bound that sets it (as `run`'s)."""
    bounds = [
        (MAX_SAMPLES, "eval.samples' bound"),
        (
            MAX_TENSOR_BYTES // sample_bytes(dataset, params),
            f"{MAX_TENSOR_BYTES // 2**30} GiB of float32 samples",
        ),
    ]
    for name in metrics:
        limit = METRICS.get(name).max_samples
        if limit is not None:
            bounds.append((limit, f"what metric '{name}' can score"))
    return min(bounds)


def _generator_tasks(plan: _Plan, datasets: list[str], source: Source, seeds: int | None) -> list[Task]:
    """One task per dataset and seed: seed i is the i-th checkpoint, or noise seed i of one network."""
    spec = source.generator or ""
    with _current_folder_importable():
        make = _factory(spec)
        if source.latent_dim is None:
            raise GanbenchError("--generator needs --latent-dim N (the size of the latent codes it takes)")
        latent = check_field("--latent-dim", source.latent_dim, TrainSettings, "latent_dim")
        if source.checkpoints and seeds is not None and seeds != len(source.checkpoints):
            raise GanbenchError(
                f"--seeds {seeds} but {len(source.checkpoints)} --checkpoint files: one seed each"
            )
        networks = [_network(make, path, spec) for path in source.checkpoints] or [_network(make, None, spec)]
        # Checkpoints are loaded strictly into networks of one factory: one network shows them all.
        built = {name: DATASETS.get(name).build(plan.params(name)) for name in datasets}
        _probe(networks[0], latent, f"--generator {spec}", built)
    count = len(source.checkpoints) or seeds or (plan.suite.seeds if plan.suite else 1)
    described = {"kind": "generator", "generator": source.generator, "latent_dim": latent}
    tasks = []
    for dataset in datasets:
        for seed in range(count):
            job = plan.job(dataset, seed)
            network = networks[seed] if source.checkpoints else networks[0]
            extra = _input(source.checkpoints[seed]) if source.checkpoints else {}
            draw = _drawer(network, job.eval.samples, latent, seed)
            tasks.append(Task(job, _config(job, described), draw, extra))
    return tasks


def _from_run(run: Path, metrics: Sequence[str] | None) -> list[Task]:
    """Tasks that re-score the kept generators of `run` with their own settings (other metrics)."""
    records = [r for r in RunStore(run).records() if r.kind == "train" and r.status == "ok"]
    kept = [r for r in records if (run / generators.GENERATORS_DIR / f"{r.key}.pt").is_file()]
    if not kept:
        raise GanbenchError(
            f"{run} keeps no generators (run it with --keep-generators or [eval] keep_generators)"
        )
    tasks = []
    built: dict[tuple[str, Any], Dataset] = {}  # each dataset once, for the generators' test batches
    for record in kept:
        config = dict(record.config)
        wanted = tuple(metrics) if metrics else tuple(config["metrics"])
        dataset_spec = DATASETS.get(record.cell)
        where = f"{run}: record {record.key}"
        # A record's settings are checked as a suite's are: a kept folder is input like any other.
        params = build(dataset_spec.params, config["dataset_params"], f"{where} dataset_params")
        evaluation = build(
            EvalSettings,
            {k: v for k, v in config["eval"].items() if k in _fields(EvalSettings)},
            f"{where} eval",
        )
        _check_metrics(wanted, dataset_spec.modality)
        job = Job(config["suite"], record.method, record.cell, record.seed, Hyperparameters(), params,
                  TrainSettings(), evaluation, wanted, settings_of_key(record.key))  # fmt: skip
        path = run / generators.GENERATORS_DIR / f"{record.key}.pt"
        network, latent = generators.load(path)
        if (record.cell, params) not in built:
            built[record.cell, params] = dataset_spec.build(params)
        _probe(network, latent, f"kept generator {path}", {record.cell: built[record.cell, params]})
        config["metrics"] = list(wanted)
        source = {"source": {"run": str(run.resolve()), "key": record.key}}
        tasks.append(Task(job, config, _drawer(network, evaluation.samples, latent, record.seed), source))
    return tasks


def _drawer(
    network: nn.Module, n: int, latent: int, seed: int
) -> Callable[[torch.device, Dataset], np.ndarray]:
    """Samples as a trained job draws them: the seed's `eval-noise` stream (`engine.train.generate`),
    each call's output checked (one sample of the dataset's shape per latent code)."""

    def draw(device: torch.device, dataset: Dataset) -> np.ndarray:
        from ganbench.data.external import sample_shape

        checked = _Checked(network, sample_shape(dataset))
        with torch.no_grad():
            return generate(checked.to(device), n, latent, seed, device).numpy().astype(np.float32)

    return draw


class _Checked(nn.Module):
    """A generator whose every call must return one tensor row of `shape` per latent code: a network
    that drops rows or changes shape on large batches fails its record instead of being scored."""

    def __init__(self, network: nn.Module, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.network, self.shape = network, shape

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        try:
            out = self.network(codes)
        except SystemExit as err:  # `sys.exit()` inside forward: a failure of this record, not of ganbench
            raise RuntimeError(f"the generator called sys.exit({err.code})") from None
        expected = (len(codes), *self.shape)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"the generator returned a {type(out).__name__}, not a tensor")
        if tuple(out.shape) != expected:
            raise ValueError(
                f"the generator returned shape {tuple(out.shape)} for {len(codes)} latent codes;"
                f" expected {expected}"
            )
        return out


def _suite(name: str | None) -> Suite | None:
    if name is None:
        return None
    return load_suite(name)


def _check_metrics(metrics: Sequence[str], modality: str) -> None:
    if not metrics:
        raise GanbenchError(f"no metric of the suite applies to {modality}; give --metrics")
    for name in metrics:
        if METRICS.get(name).modality != modality:
            raise GanbenchError(f"metric '{name}' does not apply to {modality}")


def _config(job: Job, source: dict[str, Any]) -> dict[str, Any]:
    """An evaluated job's configuration: the training part of a trained job's replaced by its source."""
    return {
        "suite": job.suite,
        "method": job.method,
        "dataset": job.dataset,
        "seed": job.seed,
        "dataset_params": dataclasses.asdict(job.dataset_params),
        "eval": {k: v for k, v in dataclasses.asdict(job.eval).items() if k not in NOT_CONFIG},
        "metrics": list(job.metrics),
        "source": source,
        "streams": SCHEME,
    }


def _input(path: Path) -> dict[str, Any]:
    """Which file or folder a record scored (in `extra`: each seed has its own), with a content hash
    (of a folder: every file's relative path and bytes, in path order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode("utf-8") if path.is_dir() else b"")
        digest.update(file.read_bytes())
    return {"input": {"path": str(path.resolve()), "sha256": digest.hexdigest()}}


def _label(label: str | None, source: Source) -> str:
    """The name of the scored thing in tables: --label, else the factory's or first file's name."""
    if label is None:
        base = (source.generator or "").rpartition(":")[2] if source.generator else source.samples[0].stem
        label = "-".join(part for part in "".join(c if c.isalnum() else " " for c in base).split()) or "model"
    if not NAME_PATTERN.fullmatch(label):
        raise GanbenchError(
            f"--label {label!r} must be letters and digits joined by single '-', '_', '.' or '+'"
        )
    return label


@contextlib.contextmanager
def _current_folder_importable() -> Iterator[None]:
    """The current folder first on the import path while the factory is imported and built, as
    `python -m` puts it there, so `--generator mygen:ring` finds ./mygen.py without PYTHONPATH."""
    entry = os.getcwd()
    sys.path.insert(0, entry)
    importlib.invalidate_caches()  # a module written since the last import of this folder is seen
    try:
        yield
    finally:
        # Only this entry goes (what the imported module added itself stays), so a library caller's
        # sys.path is as it was.
        if entry in sys.path:
            sys.path.remove(entry)


def _factory(spec: str) -> Callable[[], Any]:
    """The callable named `package.module:factory`; one line when it does not import."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise GanbenchError(f"--generator {spec!r} must be package.module:factory")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 - whatever the import raised, one line
        raise GanbenchError(
            f"--generator {spec}: cannot import {module_name} ({type(err).__name__}: {err})"
        ) from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise GanbenchError(f"--generator {spec}: {module_name} has no callable '{attribute}'")
    return factory


def _network(factory: Callable[[], Any], checkpoint: Path | None, spec: str) -> nn.Module:
    """A fresh network from the factory, with the checkpoint's state dict (weights_only) loaded strictly."""
    try:
        network = factory()
    except (Exception, SystemExit) as err:  # noqa: BLE001 - whatever the factory raised (sys.exit too): one line
        raise GanbenchError(f"--generator {spec}: the factory failed ({_reason(err)})") from None
    if not isinstance(network, nn.Module):
        raise GanbenchError(f"the generator factory returned {type(network).__name__}, not a torch.nn.Module")
    if checkpoint is not None:
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - unreadable or unsafe: never unpickled
            raise GanbenchError(
                f"--checkpoint {checkpoint} cannot be loaded safely ({type(err).__name__})"
            ) from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]  # a ganbench kept-generator file, or a common training-script layout
        try:
            network.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as err:
            reason = " ".join(str(err).split())[:200]
            raise GanbenchError(f"--checkpoint {checkpoint} does not fit the generator: {reason}") from None
    return network.eval()


def _probe(network: nn.Module, latent: int, name: str, datasets: dict[str, Dataset]) -> None:
    """Run the generator on a test batch before anything is written: a latent size it does not take,
    or samples of another shape than each dataset's, is one line now, not a failed job per seed."""
    from ganbench.data.external import check_shape

    try:
        samples = _run(network, latent)
    except (Exception, SystemExit) as err:  # noqa: BLE001 - whatever the network raised (sys.exit too), one line
        reason = _reason(err)
        takes = _latent_size(network)
        if takes is not None and takes != latent and _runs(network, takes):
            raise GanbenchError(
                f"{name} takes latent codes of size {takes}, not --latent-dim {latent} ({reason})"
            ) from None
        raise GanbenchError(
            f"{name} fails on {PROBE_BATCH} latent codes of size {latent} ({reason})"
        ) from None
    if not isinstance(samples, torch.Tensor):
        raise GanbenchError(f"{name} returned a {type(samples).__name__}, not a tensor")
    what = f"{name} (samples of {PROBE_BATCH} latent codes)"
    for dataset_name, dataset in datasets.items():
        check_shape(tuple(samples.shape), dataset, what, name=dataset_name)


def _reason(err: BaseException) -> str:
    """An exception in a few words on one line: its type and message."""
    if isinstance(err, SystemExit):
        return f"it called sys.exit({err.code})"
    return f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"


def _run(network: nn.Module, latent: int) -> Any:
    """The network's output for a fixed test batch of latent codes, on the network's own device."""
    device = next(network.parameters(), torch.empty(0)).device
    codes = torch.randn(PROBE_BATCH, latent, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        return network(codes)


def _runs(network: nn.Module, latent: int) -> bool:
    """Whether the network takes latent codes of this size."""
    try:
        _run(network, latent)
    except (Exception, SystemExit):  # noqa: BLE001 - any failure means: not this size either
        return False
    return True


def _latent_size(network: nn.Module) -> int | None:
    """The latent size the network's first layer takes (a guess that `_runs` confirms), or None."""
    for module in network.modules():
        if isinstance(module, nn.Linear):
            return module.in_features
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)):
            return module.in_channels
        if isinstance(module, nn.Unflatten):  # DCGAN: (B, latent) -> (B, latent, 1, 1)
            return int(np.prod(module.unflattened_size))
    return None


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}
