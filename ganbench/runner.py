"""Runs a suite's Jobs, stores one record per finished job, and skips jobs already finished."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ganbench import manifest
from ganbench.data import DATASETS
from ganbench.device import DeviceChoice, resolve_device
from ganbench.metrics import METRICS, EvalContext
from ganbench.models import METHODS, NetworkSize
from ganbench.report import Report, build_report
from ganbench.store import RunStore
from ganbench.suite import Job, Suite, load_suite, with_overrides
from ganbench.train import generate, train

# Evaluation draws its own streams, apart from the training streams of the same seed.
EVAL_NOISE_SEED = 1_000_003
REFERENCE_SEED = 2_000_003


class RunProgress(Protocol):
    """What the runner reports while it works (the CLI shows it as rich progress bars)."""

    def job_started(self, index: int, total: int, job: Job) -> None: ...
    def step(self, done: int, total: int) -> None: ...
    def job_finished(self, record: dict[str, Any]) -> None: ...


class _Silent:
    def job_started(self, index: int, total: int, job: Job) -> None:
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


def execute_job(
    job: Job, device: torch.device, progress: RunProgress | None = None
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Train, sample and evaluate one job. Returns its record and its generated samples.

    Never raises for a job's own failure: an exception becomes a `failed` record with its reason,
    a non-finite loss a `diverged` record with the step. Ctrl-C (KeyboardInterrupt) propagates.
    """
    progress = progress or _Silent()
    started = time.perf_counter()
    record: dict[str, Any] = {
        "key": job.key,
        "config": job.config(),
        "status": "ok",
        "diverged_step": None,
        "reason": None,
        "train_seconds": None,
        "eval_seconds": None,
        "metrics": {},
        "losses": {},
    }
    samples = None
    try:
        dataset = DATASETS.get(job.dataset).build(job.dataset_params)
        size = NetworkSize(job.train.latent_dim, job.train.width, job.train.depth)
        result = train(
            METHODS.get(job.method),
            job.hyperparameters,
            dataset,
            size,
            job.train.steps,
            job.train.batch_size,
            job.seed,
            device,
            job.train.log_every,
            on_step=lambda done: progress.step(done, job.train.steps),
        )
        record["train_seconds"] = result.seconds
        record["losses"] = {"step": result.loss_steps, "d": result.d_losses, "g": result.g_losses}
        if result.status == "diverged":
            record.update(
                status="diverged",
                diverged_step=result.diverged_step,
                reason=f"loss became NaN or infinite at step {result.diverged_step}",
            )
        else:
            eval_started = time.perf_counter()
            generated = generate(
                result.generator, job.eval.samples, job.train.latent_dim, EVAL_NOISE_SEED + job.seed, device
            )
            samples = generated.numpy().astype(np.float32)
            if not np.isfinite(samples).all():
                record.update(
                    status="diverged",
                    diverged_step=job.train.steps,
                    reason="generated samples are NaN or infinite",
                )
            else:
                ctx = EvalContext(samples.astype(np.float64), dataset, REFERENCE_SEED + job.seed)
                for name in job.metrics:
                    value = METRICS.get(name).compute(ctx)
                    record["metrics"][name] = {"value": value.value, "exact": value.exact, "note": value.note}
            record["eval_seconds"] = time.perf_counter() - eval_started
    except Exception as err:  # noqa: BLE001 - a job's failure is recorded, and the suite goes on
        record.update(status="failed", reason=f"{type(err).__name__}: {err}".splitlines()[0])
    record["wall_seconds"] = time.perf_counter() - started
    return record, samples


def run_suite(
    suite: Suite, out: Path, device: torch.device, progress: RunProgress | None = None
) -> RunOutcome:
    """Run every job of `suite` not yet finished in `out`, storing each record as it finishes."""
    progress = progress or _Silent()
    store = RunStore(out)
    jobs = suite.jobs()
    todo = [job for job in jobs if not store.finished(job.key, job.config())]
    skipped = [job.key for job in jobs if job not in todo]
    session = manifest.capture(device)
    store.write_manifest(session)
    ran = []
    for index, job in enumerate(todo, start=1):
        progress.job_started(index, len(todo), job)
        record, samples = execute_job(job, device, progress)
        record["manifest"] = session
        store.save_job(record, samples)
        ran.append(job.key)
        progress.job_finished(record)
    return RunOutcome(store.root, ran, skipped)


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
    progress: RunProgress | None = None,
) -> tuple[RunOutcome, Report]:
    """`ganbench run`: load and override the suite, run what is not finished in `out`, report."""
    loaded = with_overrides(load_suite(suite), methods=methods, seeds=seeds, steps=steps, quick=quick)
    torch_device = resolve_device(device)
    root = out if out is not None else default_out(loaded.name)
    try:
        outcome = run_suite(loaded, root, torch_device, progress)
    except KeyboardInterrupt:
        raise RunInterrupted(root, len(RunStore(root).records()), len(loaded.jobs())) from None
    return outcome, build_report(root)
