"""`ganbench run` and `ganbench tune`: load the suite, check the time, train what is left, then report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ganbench import plugins
from ganbench import tune as tuning
from ganbench.device import DeviceChoice, resolve_device, use_threads
from ganbench.paths import Paths
from ganbench.records.store import RunStore, default_out, stored_count
from ganbench.report import Report, build_report
from ganbench.run import checkpoints, estimate
from ganbench.run.driver import RunDeclined, RunInterrupted, RunOutcome, prepare, run_suite
from ganbench.run.executors import Executor, ExecutorOptions, LocalExecutor, make_executor
from ganbench.run.progress import PlainProgress, RichProgress, RunProgress, Silent
from ganbench.suite import Job, Suite, find_suite, load_suite, with_overrides
from ganbench.tune import TUNING_TABLE, Selection
from ganbench.tune import markdown as tuning_markdown

# What the CLI needs besides the commands: the run's outcomes, its executors and progress displays.
__all__ = [
    "TUNING_TABLE",
    "ExecutorOptions",
    "PlainProgress",
    "RichProgress",
    "RunDeclined",
    "RunInterrupted",
    "RunOutcome",
    "load",
    "make_executor",
    "run",
    "run_loaded",
    "tune",
    "tuning_markdown",
]


def load(
    suite: str,
    *,
    methods: Sequence[str] | None = None,
    seeds: int | None = None,
    first_seed: int | None = None,
    steps: int | None = None,
    quick: bool = False,
    keep_generators: bool = False,
) -> Suite:
    """The suite with the CLI's overrides applied (plugins loaded first: they register methods)."""
    plugins.load()
    return with_overrides(
        load_suite(suite), methods=methods, seeds=seeds, first_seed=first_seed, steps=steps, quick=quick,
        keep_generators=keep_generators,
    )  # fmt: skip


def run(
    suite: str,
    *,
    methods: Sequence[str] | None = None,
    seeds: int | None = None,
    first_seed: int | None = None,
    steps: int | None = None,
    quick: bool = False,
    keep_generators: bool = False,
    paths: Paths | None = None,
    **options: Any,
) -> tuple[RunOutcome, Report]:
    """`ganbench run`: `load` the suite with the CLI's overrides, then `run_loaded` it (`options` are
    its keywords: device, out, executor, progress, threads, confirm, batch_seeds)."""
    if paths is not None:
        paths.use()  # before loading: plugins and datasets read the paths
    loaded = load(
        suite, methods=methods, seeds=seeds, first_seed=first_seed, steps=steps, quick=quick,
        keep_generators=keep_generators,
    )  # fmt: skip
    return run_loaded(loaded, **options)


def tune(
    suite: str,
    *,
    write_suite: Path | None = None,
    methods: Sequence[str] | None = None,
    steps: int | None = None,
    quick: bool = False,
    paths: Paths | None = None,
    **options: Any,
) -> tuple[RunOutcome, Report, Selection]:
    """`ganbench tune`: run the suite's `[tune]` search (every method at each of its configurations on
    the tuning seeds), rank the configurations, write `tuning.json` and `tuning.md` into the run
    folder and, with `write_suite`, the chosen settings as a suite file (`options` as for `run`)."""
    if paths is not None:
        paths.use()
    loaded = load(suite, methods=methods, steps=steps, quick=quick)
    search = tuning.search_suite(loaded)
    outcome, report = run_loaded(search, **options)
    selection = tuning.select(list(RunStore(outcome.root).records()), loaded, search, outcome.root)
    tuning.write(selection, outcome.root)
    if write_suite is not None:
        tuning.write_suite(selection, find_suite(suite), write_suite)
    return outcome, report, selection


def run_loaded(
    loaded: Suite,
    *,
    device: DeviceChoice | str = DeviceChoice.auto,
    out: Path | None = None,
    batch_seeds: bool = True,
    executor: Executor | None = None,
    progress: RunProgress | None = None,
    paths: Paths | None = None,
    threads: int | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> tuple[RunOutcome, Report]:
    """Run what is not finished of a loaded suite in `out`, then report.

    `paths` (data root, Inception weights, cache folder) become this process's settings first, and
    `threads` its intra-op thread count (None: $GANBENCH_THREADS, else the free cores). Before a
    long training (`ganbench.run.estimate`) the measured time estimate is printed; `confirm` (an
    interactive prompt) may then stop the run before anything is written (RunDeclined).
    """
    if paths is not None:
        paths.use()
    use_threads(threads)
    executor = executor or LocalExecutor()
    if executor.local:
        resolve_device(device)  # `--device cuda` without CUDA fails here, before any folder is made
    progress = progress or Silent()
    root = out if out is not None else default_out(loaded.name)
    where = resolve_device(device) if executor.local else torch.device("cpu")

    def check_time(groups: list[list[Job]]) -> None:
        if not estimate.worth_estimating(groups):
            return
        guess = estimate.estimate(groups, where, root / checkpoints.CHECKPOINTS_DIR)
        progress.note(guess.describe())
        progress.expect({group[0].key: g.seconds for group, g in zip(groups, guess.groups, strict=True)})
        if confirm is not None and guess.seconds >= estimate.CONFIRM_FROM_SECONDS:
            if not confirm(f"Train for about {estimate.duration(guess.seconds)}?"):
                raise RunDeclined(root)

    phase = "data preparation"
    try:
        prepare(loaded, progress)
        phase = "training"
        outcome = run_suite(loaded, root, device, progress, batch_seeds, executor, check_time)
        phase = "the report"
        report = build_report([root], root)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI turns it into KeyboardInterrupt)
        jobs = loaded.jobs()
        saved = checkpoints.stored(root / checkpoints.CHECKPOINTS_DIR, jobs)
        raise RunInterrupted(root, stored_count(root), len(jobs), phase, saved) from None
    return outcome, report
