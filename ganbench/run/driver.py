"""The driver: plan a suite's jobs, skip finished ones (resume), hand groups to an executor, store records.

The driver is the only writer of the run folder; the worker (`ganbench.run.worker`) executes the
groups wherever the executor runs them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ganbench import plugins
from ganbench.data import DATASETS
from ganbench.device import DeviceChoice, resolve_device
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS
from ganbench.models import ARCHITECTURES
from ganbench.paths import Paths
from ganbench.report import Report, build_report
from ganbench.run import manifest
from ganbench.run.executors import Executor, LocalExecutor
from ganbench.run.progress import RunProgress, Silent
from ganbench.run.store import RunStore, default_out
from ganbench.suite import Job, Suite, load_suite, with_overrides


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
    progress = progress or Silent()
    executor = executor or LocalExecutor()
    store = RunStore(out)
    jobs = suite.jobs()
    todo = [job for job in jobs if not store.finished(job.key, job.config())]
    skipped = [job.key for job in jobs if job not in todo]
    # The driver's environment, for the folder; every record carries its worker's own manifest.
    session = manifest.capture(resolve_device(device) if executor.local else torch.device("cpu"))
    store.write_manifest(session)
    store.add_to_plan([job.key for job in jobs])
    ran: list[str] = []
    for outcomes in executor.run(seed_batches(todo, batch_seeds), str(DeviceChoice(device)), progress):
        for record, samples in outcomes:
            store.save(record, samples)
            ran.append(record.key)
            progress.job_finished(record)
    return RunOutcome(store.root, ran, skipped)


def prepare(suite: Suite, progress: RunProgress | None = None) -> None:
    """Load every dataset and find every metric's files before training anything, so that missing
    data or weights stop the run at once with one line (GanbenchError), not as failed jobs."""
    progress = progress or Silent()
    for name in suite.datasets:
        DATASETS.get(name).build(suite.dataset_params[name])
    for name in suite.metrics:
        metric = METRICS.get(name)
        if metric.prepare is not None:
            metric.prepare(progress.note)


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
