"""Runs a suite's Jobs, stores one record per finished job, and skips jobs already finished."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ganbench import manifest, plugins
from ganbench.batched import train_seeds
from ganbench.data import DATASETS, Dataset
from ganbench.data.images import to_uint8
from ganbench.device import DeviceChoice, resolve_device
from ganbench.errors import GanbenchError
from ganbench.executors import Executor, LocalExecutor
from ganbench.metrics import METRICS, EvalContext
from ganbench.models import ARCHITECTURES, METHODS, NetworkSize
from ganbench.paths import Paths
from ganbench.report import Report, build_report
from ganbench.store import RunStore
from ganbench.suite import Job, Suite, load_suite, with_overrides
from ganbench.tracking import w1_observer
from ganbench.train import Observer, TrainResult, generate, train

# Evaluation draws its own streams, apart from the training streams of the same seed.
EVAL_NOISE_SEED = 1_000_003
REFERENCE_SEED = 2_000_003
# Generated images kept per job for the report's sample grids (8 x 8).
STORED_IMAGES = 64


class RunProgress(Protocol):
    """What the runner reports while it works (the CLI shows it as rich progress bars)."""

    def note(self, message: str) -> None: ...
    def job_started(self, index: int, total: int, jobs: list[Job]) -> None: ...
    def step(self, done: int, total: int) -> None: ...
    def job_finished(self, record: dict[str, Any]) -> None: ...


class _Silent:
    def note(self, message: str) -> None:
        pass

    def job_started(self, index: int, total: int, jobs: list[Job]) -> None:
        pass

    def step(self, done: int, total: int) -> None:
        pass

    def job_finished(self, record: dict[str, Any]) -> None:
        pass


class RunInterrupted(Exception):
    """Ctrl-C during a run: every job finished before it is stored; the same command resumes."""

    def __init__(self, root: Path, stored: int, total: int) -> None:
        super().__init__(f"interrupted: {stored} of {total} jobs are stored in {root}")
        self.root, self.stored, self.total = root, stored, total


@dataclass(frozen=True)
class RunOutcome:
    """What a call to `run_suite` did."""

    root: Path
    ran: list[str]
    skipped: list[str]


def new_record(job: Job, seed_batch: list[int]) -> dict[str, Any]:
    return {
        "key": job.key,
        "config": job.config(),
        "status": "ok",
        "diverged_step": None,
        "reason": None,
        "seed_batch": seed_batch,  # the seeds trained together with this one
        "train_seconds": None,
        "eval_seconds": None,
        "metrics": {},
        "losses": {},
        "curves": {},
    }


def _failure(err: Exception) -> dict[str, Any]:
    return {"status": "failed", "reason": f"{type(err).__name__}: {err}".splitlines()[0]}


def _train(
    jobs: list[Job], dataset: Dataset, device: torch.device, progress: RunProgress
) -> list[TrainResult]:
    """One job alone with `train`; several seeds of one cell together with `train_seeds`."""
    job = jobs[0]
    size = NetworkSize(job.train.latent_dim, job.train.width, job.train.depth)
    common = dict(
        method=METHODS.get(job.method),
        hp=job.hyperparameters,
        dataset=dataset,
        size=size,
        steps=job.train.steps,
        batch_size=job.train.batch_size,
        device=device,
        log_every=job.train.log_every,
        on_step=lambda done: progress.step(done, job.train.steps),
        track_every=job.train.track_every,
    )
    observers = [_observer(j, dataset, device) for j in jobs] if job.train.track_every else None
    if len(jobs) == 1:
        return [train(seed=job.seed, observer=observers[0] if observers else None, **common)]
    return train_seeds(seeds=[j.seed for j in jobs], observers=observers, **common)


def _observer(job: Job, dataset: Dataset, device: torch.device) -> Observer:
    objective = METHODS.get(job.method).objective
    return w1_observer(
        objective,
        dataset,
        job.eval.track_samples,
        job.train.latent_dim,
        job.seed,
        device,
        job.hyperparameters.pack,
    )


def _evaluate(
    job: Job, dataset: Dataset, result: TrainResult, device: torch.device, record: dict[str, Any]
) -> np.ndarray:
    """Sample the trained generator and compute the job's metrics into `record`."""
    started = time.perf_counter()
    generated = generate(
        result.generator, job.eval.samples, job.train.latent_dim, EVAL_NOISE_SEED + job.seed, device
    )
    samples = generated.numpy().astype(np.float32)
    if not np.isfinite(samples).all():
        record.update(
            status="diverged", diverged_step=job.train.steps, reason="generated samples are NaN or infinite"
        )
    else:
        ctx = EvalContext(
            samples if dataset.modality == "images" else samples.astype(np.float64),
            dataset,
            REFERENCE_SEED + job.seed,
            dataset_id=dataset_id(job),
            reference_count=job.eval.reference_samples,
            wanted=job.metrics,
            device=device,
        )
        for name in job.metrics:
            value = METRICS.get(name).compute(ctx)
            record["metrics"][name] = {
                "value": value.value,
                "exact": value.exact,
                "note": value.note,
                "counts": value.counts or {"generated": len(samples)},
            }
    record["eval_seconds"] = time.perf_counter() - started
    if dataset.modality == "images":  # a grid's worth, as uint8: all of them would be tens of megabytes
        return to_uint8(torch.from_numpy(samples[:STORED_IMAGES])).numpy()
    return samples


def dataset_id(job: Job) -> str:
    """The dataset with the parameters that shape its data, e.g. `mnist-split=test-size=28` (part of
    the real-data statistics' cache key; whether a download was allowed does not change the data)."""
    params = dataclasses.asdict(job.dataset_params)
    return "-".join([job.dataset, *(f"{k}={v}" for k, v in params.items() if k != "download")])


def execute_jobs(
    jobs: list[Job], device: torch.device, progress: RunProgress | None = None
) -> list[tuple[dict[str, Any], np.ndarray | None]]:
    """Train, sample and evaluate jobs that differ only in their seed; one (record, samples) each.

    Never raises for a job's own failure: an exception becomes a `failed` record with its reason,
    a non-finite loss a `diverged` record with the step. Ctrl-C (KeyboardInterrupt) propagates.
    """
    progress = progress or _Silent()
    started = time.perf_counter()
    records = [new_record(job, [j.seed for j in jobs]) for job in jobs]
    outcomes: list[tuple[dict[str, Any], np.ndarray | None]] = [(r, None) for r in records]
    try:
        dataset = DATASETS.get(jobs[0].dataset).build(jobs[0].dataset_params)
        results = _train(jobs, dataset, device, progress)
    except Exception as err:  # noqa: BLE001 - a job's failure is recorded, and the suite goes on
        results = []
        for record in records:
            record.update(_failure(err))
    for index, (job, record, result) in enumerate(zip(jobs, records, results, strict=False)):
        record["train_seconds"] = result.seconds
        record["losses"] = {"step": result.loss_steps, "d": result.d_losses, "g": result.g_losses}
        record["curves"] = result.curves
        if result.status == "diverged":
            reason = f"loss became NaN or infinite at step {result.diverged_step}"
            record.update(status="diverged", diverged_step=result.diverged_step, reason=reason)
            continue
        try:
            outcomes[index] = (record, _evaluate(job, dataset, result, device, record))
        except Exception as err:  # noqa: BLE001
            record.update(_failure(err))
    for record in records:
        record["wall_seconds"] = (time.perf_counter() - started) / len(jobs)
    return outcomes


def seed_batches(jobs: list[Job], batch_seeds: bool) -> list[list[Job]]:
    """Group jobs that differ only in their seed, keeping the suite's order.

    Only 2-D data on a seed-batchable architecture is grouped; every other job runs alone.
    """
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        config = {k: v for k, v in job.config().items() if k != "seed"}
        batchable = (
            batch_seeds
            and DATASETS.get(job.dataset).modality == "points"
            and ARCHITECTURES.get(job.hyperparameters.architecture).seed_batchable
        )
        key = json.dumps(config, sort_keys=True) if batchable else job.key
        groups.setdefault(key, []).append(job)
    return list(groups.values())


def run_suite(
    suite: Suite,
    out: Path,
    device: DeviceChoice | str = DeviceChoice.auto,
    progress: RunProgress | None = None,
    batch_seeds: bool = True,
    executor: Executor | None = None,
) -> RunOutcome:
    """Run every job of `suite` not yet finished in `out`, storing each record as it finishes.

    With `batch_seeds`, the unfinished seeds of each method x dataset train together as one
    batched model. Seeds are independent, so whichever seeds share a batch (all of them, or only
    those left after an interruption), each gets the result of its own run, up to float rounding.
    The executor runs the groups (here, or on Ray); only this function writes to the run folder.
    """
    progress = progress or _Silent()
    executor = executor or LocalExecutor()
    store = RunStore(out)
    jobs = suite.jobs()
    todo = [job for job in jobs if not store.finished(job.key, job.config())]
    skipped = [job.key for job in jobs if job not in todo]
    # The driver's environment; a Ray worker adds its own (device included) to each record.
    session = manifest.capture(resolve_device(device) if executor.local else torch.device("cpu"))
    store.write_manifest(session)
    store.add_to_plan([job.key for job in jobs])
    ran: list[str] = []
    for outcomes in executor.run(seed_batches(todo, batch_seeds), str(DeviceChoice(device)), progress):
        for record, samples in outcomes:
            record.setdefault("manifest", session)  # a Ray worker sends its own
            store.save_job(record, samples)
            ran.append(record["key"])
            progress.job_finished(record)
    return RunOutcome(store.root, ran, skipped)


def prepare(suite: Suite, progress: RunProgress | None = None) -> None:
    """Load every dataset and find every metric's files before training anything, so that missing
    data or weights stop the run at once with one line (GanbenchError), not as failed jobs."""
    progress = progress or _Silent()
    for name in suite.datasets:
        DATASETS.get(name).build(suite.dataset_params[name])
    for name in suite.metrics:
        metric = METRICS.get(name)
        if metric.prepare is not None:
            metric.prepare(progress.note)


def default_out(suite_name: str, results: Path = Path("results")) -> Path:
    """results/<suite>/<run-id>, the run id being the local start time (made unique)."""
    base = results / suite_name / datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def run(
    suite: str,
    *,
    methods: Sequence[str] | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    quick: bool = False,
    device: DeviceChoice | str = DeviceChoice.auto,
    out: Path | None = None,
    batch_seeds: bool = True,
    executor: Executor | None = None,
    progress: RunProgress | None = None,
    paths: Paths | None = None,
) -> tuple[RunOutcome, Report]:
    """`ganbench run`: load and override the suite, run what is not finished in `out`, report.

    `paths` (data root, Inception weights, cache folder) become this process's settings first.
    """
    if paths is not None:
        paths.use()
    plugins.load()
    loaded = load_suite(suite)
    if not isinstance(loaded, Suite):
        raise GanbenchError(f"'{loaded.name}' is a throughput suite: run it with `ganbench throughput`")
    loaded = with_overrides(loaded, methods=methods, seeds=seeds, steps=steps, quick=quick)
    executor = executor or LocalExecutor()
    if executor.local:
        resolve_device(device)  # `--device cuda` without CUDA fails here, before any folder is made
    prepare(loaded, progress)
    root = out if out is not None else default_out(loaded.name)
    try:
        outcome = run_suite(loaded, root, device, progress, batch_seeds, executor)
    except KeyboardInterrupt:
        raise RunInterrupted(root, len(RunStore(root).records()), len(loaded.jobs())) from None
    return outcome, build_report([root], root)
