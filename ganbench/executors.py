"""Executors: where the runner's job groups run. `local` in this process; `ray` on a Ray cluster."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from ganbench.runner import RunProgress
    from ganbench.suite import Job

Outcome = tuple[dict[str, Any], np.ndarray | None]  # a job's record and its generated samples


class ExecutorChoice(StrEnum):
    local = "local"
    ray = "ray"


class Executor(Protocol):
    """Runs groups of jobs and yields each group's outcomes as soon as that group is done.

    Only the caller (the driver) writes to the run folder, so an executor never touches it.
    `device` is the CLI's choice (auto, cpu, cuda), resolved where the jobs run.
    """

    local: bool  # whether jobs run in this process (so the driver's device is theirs)

    def run(self, groups: list[list[Job]], device: str, progress: RunProgress) -> Iterator[list[Outcome]]: ...


class LocalExecutor:
    """In this process, one group after another, with step-level progress."""

    local = True

    def run(self, groups: list[list[Job]], device: str, progress: RunProgress) -> Iterator[list[Outcome]]:
        from ganbench.device import resolve_device
        from ganbench.runner import execute_jobs

        torch_device = resolve_device(device)
        started = 0
        for group in groups:
            progress.job_started(started + 1, sum(map(len, groups)), group)
            started += len(group)
            yield execute_jobs(group, torch_device, progress)


def make_executor(choice: ExecutorChoice | str, address: str | None, cpus: float, gpus: float) -> Executor:
    """The executor the CLI names; Ray options without `--executor ray` are an error."""
    from ganbench.errors import GanbenchError

    if ExecutorChoice(choice) is ExecutorChoice.local:
        if address is not None:
            raise GanbenchError("--address needs --executor ray")
        return LocalExecutor()
    if cpus <= 0 or gpus < 0:
        raise GanbenchError(f"--cpus-per-job must be > 0 and --gpus-per-job >= 0 (got {cpus:g}, {gpus:g})")
    from ganbench.ray_executor import RayExecutor

    return RayExecutor(address, cpus, gpus)
