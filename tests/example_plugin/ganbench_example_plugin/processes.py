"""A new executor in one module: job groups in a pool of fresh worker processes on this machine."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from ganbench.run.executors import EXECUTORS, ExecutorSpec
from ganbench.run.worker import run_group


class ProcessesExecutor:
    """Each job group in one of `workers` spawned processes; outcomes come back as groups finish."""

    local = False  # jobs run in other processes, which resolve the device themselves

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, groups, context, progress) -> Iterator[list]:
        # "spawn": a fresh interpreter, as on another machine; run_group makes it ready from the
        # driver's context (paths, plugins, threads, device), exactly as for the local and Ray executors.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=spawn) as pool:
            futures = {pool.submit(run_group, group, context): group for group in groups}
            done = 0
            for future in as_completed(futures):
                progress.job_started(done + 1, sum(map(len, groups)), futures[future])
                done += len(futures[future])
                yield future.result()


# Two workers: enough to show groups running side by side. An executor that needs a setting of its
# own adds a field to ExecutorOptions and a typer option to `ganbench run`
# (docs/pages/extending/executor.md).
EXECUTORS.add(
    "processes",
    ExecutorSpec(
        "processes", "job groups in a pool of 2 local worker processes", lambda _: ProcessesExecutor(2)
    ),
)
