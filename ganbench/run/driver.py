"""The driver: plan a suite's jobs, skip finished ones (resume), hand groups to an executor, store records.

The driver is the only writer of the run folder; the worker (`ganbench.run.worker`) executes the
groups wherever the executor runs them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganbench.data import DATASETS
from ganbench.device import DeviceChoice, resolve_device
from ganbench.engine.train import data_shape, stacking_problem
from ganbench.metrics import METRICS
from ganbench.models import NetworkSize
from ganbench.models.base import step_structure
from ganbench.records.record import FINAL_STATUSES
from ganbench.records.store import RunStore
from ganbench.run import checkpoints, generators, guard, manifest
from ganbench.run.context import WorkerContext
from ganbench.run.executors import Executor, LocalExecutor
from ganbench.run.progress import RunProgress, Silent, group_label
from ganbench.suite import Job, Suite


class RunInterrupted(Exception):
    """Ctrl-C or SIGTERM during a run: every job finished before it is stored; the same command resumes.

    `stored` is None when the run stopped before its folder was made (nothing to resume);
    `saved` lists the groups with a training checkpoint (their jobs and its step), which the same
    command continues from.
    """

    def __init__(
        self, root: Path, stored: int | None, total: int, phase: str = "training",
        saved: Sequence[tuple[list[Job], int]] = (),
    ) -> None:  # fmt: skip
        where = "nothing was written" if stored is None else f"{stored} of {total} jobs are stored in {root}"
        if saved:
            groups = " and ".join(f"{g[0].method} ({group_label(g)}) at step {step:,}" for g, step in saved)
            kind = "a training checkpoint" if len(saved) == 1 else "training checkpoints"
            where = (
                f"{stored or 0} of {total} jobs are stored in {root}, and {kind} of {groups}, "
                "from which the same command continues"
            )
        super().__init__(f"interrupted during {phase}: {where}")
        self.root, self.stored, self.total, self.phase = root, stored, total, phase
        self.saved = list(saved)

    @property
    def resumable(self) -> bool:
        """Whether the same command continues this run (jobs or a checkpoint are stored)."""
        return bool(self.stored) or bool(self.saved)


class RunDeclined(Exception):
    """The user chose not to start a long training after its estimate; nothing was written."""

    def __init__(self, root: Path) -> None:
        super().__init__(f"not started: nothing was written to {root}")
        self.root = root


@dataclass(frozen=True)
class RunOutcome:
    """What a call to `run_suite` did."""

    root: Path
    ran: list[str]
    skipped: list[str]
    failed: list[str] = field(default_factory=list)  # jobs of `ran` that ended `failed`


def stack_groups(jobs: list[Job], batch: bool, note: Callable[[str], None] | None = None) -> list[list[Job]]:
    """Group the jobs that train as one stacked model, keeping the suite's order.

    Jobs of one method with the same settings and data shape share networks of one shape, so all
    their seeds and datasets (ring-8 and grid-25 alike) train together, and so do jobs whose settings
    differ only in values each member may hold its own of (`ganbench.models.base.PER_MEMBER`).
    Networks the engine cannot stack (a layer without a stacked form, such as a spectrally normalized
    convolution) train one job at a time, and `note` says so once per method and reason; the DCGAN
    nets (convolutions, batch and group norm) stack. Without `batch` every job trains alone.
    """
    if not batch:
        return [[job] for job in jobs]
    shapes: dict[str, tuple[int, ...]] = {}
    shapes_held: dict[tuple[str, int], tuple[int, ...]] = {}  # by the id of the (shared) params

    def shape_of(job: Job) -> tuple[int, ...]:
        held = (job.dataset, id(job.dataset_params))
        if held not in shapes_held:
            key = json.dumps([job.dataset, job.config()["dataset_params"]], sort_keys=True)
            if key not in shapes:
                shapes[key] = data_shape(DATASETS.get(job.dataset).build(job.dataset_params))
            shapes_held[held] = shapes[key]
        return shapes_held[held]

    keys: dict[tuple[Any, ...], str] = {}
    structures: dict[int, dict[str, object]] = {}

    def group_key(job: Job) -> str:
        # Every seed of a sweep point holds the same settings objects: its key is written once, and
        # each hyperparameters' structure once (the jobs keep those objects alive, so their ids
        # stand for them here).
        held = (job.hyperparameters, job.dataset_params, job.train, job.eval)
        parts = (job.suite, job.method, job.dataset, job.metrics, *map(id, held))
        if parts not in keys:
            if id(job.hyperparameters) not in structures:
                structures[id(job.hyperparameters)] = step_structure(job.hyperparameters)
            # Jobs that differ only in per-member settings (a tuning search's step sizes, betas,
            # penalty weights) share one model too: each member steps with its own values.
            setup = job.setup() | {"hyperparameters": structures[id(job.hyperparameters)]}
            keys[parts] = json.dumps([setup, shape_of(job)], sort_keys=True)
        return keys[parts]

    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(group_key(job), []).append(job)
    result: list[list[Job]] = []
    said: set[tuple[str, str]] = set()
    # Groups that differ only in what does not shape the networks (a sweep over steps) ask once.
    problems: dict[tuple[Any, ...], str | None] = {}
    for group in groups.values():
        first = group[0]
        size = NetworkSize(first.train.latent_dim, first.train.width, first.train.depth)
        problem = None
        if len(group) > 1:
            networks = (first.hyperparameters, size, shape_of(first))
            if networks not in problems:
                problems[networks] = stacking_problem(*networks)
            problem = problems[networks]
        if problem is None:
            result.append(group)
            continue
        if note is not None and (first.method, problem) not in said:
            said.add((first.method, problem))
            note(f"{first.method} trains one job at a time ({problem}): {len(group)} jobs not stacked")
        result.extend([job] for job in group)
    return result


def run_suite(
    suite: Suite,
    out: Path,
    device: DeviceChoice | str = DeviceChoice.auto,
    progress: RunProgress | None = None,
    batch_seeds: bool = True,
    executor: Executor | None = None,
    before_training: Callable[[list[list[Job]]], None] | None = None,
) -> RunOutcome:
    """Run every job of `suite` not yet finished in `out`, storing each record as it finishes.

    With `batch_seeds`, the unfinished jobs of each method train together as one stacked model
    (`stack_groups`). Members are independent, so whichever jobs share a model (all of them, or
    only those left after an interruption), each gets the result of its own run, up to float rounding.
    The executor runs the groups (here, or on Ray); only this function writes to the run folder.
    `before_training` sees the groups before anything is written (it may raise to stop the run).
    """
    progress = progress or Silent()
    executor = executor or LocalExecutor()
    guard.check_out(Path(out))
    with guard.locked(Path(out)):
        return _run_locked(suite, RunStore(out), device, progress, batch_seeds, executor, before_training)


def _run_locked(
    suite: Suite,
    store: RunStore,
    device: DeviceChoice | str,
    progress: RunProgress,
    batch_seeds: bool,
    executor: Executor,
    before_training: Callable[[list[list[Job]]], None] | None,
) -> RunOutcome:
    """`run_suite` once the folder is locked: read and check everything, then train and store."""
    # Every record and the plan are read (and checked) before anything is written, so a damaged or
    # foreign folder stops the run with one line and stays as it was.
    stored = {record.key: record for record in store.records()}
    store.plan()
    jobs = suite.jobs()
    guard.check_settings(stored, {job.key: job.config() for job in jobs}, store.root)
    done = {key for key, record in stored.items() if record.status in FINAL_STATUSES}
    todo = [job for job in jobs if job.key not in done]
    skipped = [job.key for job in jobs if job.key in done]
    groups = stack_groups(todo, batch_seeds, progress.note)
    if before_training is not None:
        before_training(groups)
    # The driver's environment, for the folder; every record carries its worker's own manifest.
    session = manifest.capture(resolve_device(device) if executor.local else torch.device("cpu"))
    store.write_manifest(session)
    store.add_to_plan([job.key for job in jobs])
    # Named before the first job, so a log shows where the run writes long before it ends.
    progress.run_started(store.root, len(todo), len(skipped))
    ran: list[str] = []
    failed: list[str] = []
    # Workers save their group's training state in checkpoints/ (suites with checkpoint_every); a
    # group's file goes once its records are stored, so what is left after a crash is exactly what
    # can resume. Kept generators ([eval] keep_generators) go to generators/.
    folder = store.root / checkpoints.CHECKPOINTS_DIR
    context = WorkerContext.of_driver(
        str(DeviceChoice(device)), folder, store.root / generators.GENERATORS_DIR
    )
    for outcomes in executor.run(groups, context, progress):
        for record, samples in outcomes:
            store.save(record, samples)
            ran.append(record.key)
            if record.status == "failed":
                failed.append(record.key)
            progress.job_finished(record)
        if all(record.status in FINAL_STATUSES for record, _ in outcomes):
            checkpoints.discard(folder, [record.config for record, _ in outcomes])
    return RunOutcome(store.root, ran, skipped, failed)


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
