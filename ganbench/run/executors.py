"""Executors: where the driver's job groups run. A registry: `local` in this process, `ray` on Ray.

An executor only decides where `ganbench.run.worker.run_group` is called and hands back what it
returns; the worker entry point itself makes any process ready from the driver's `WorkerContext`
(paths, plugins, threads, device).
Register your own with `EXECUTORS.add` in a plugin module (docs/pages/extending/executor.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Protocol

from ganbench.errors import GanbenchError
from ganbench.registry import Registry

if TYPE_CHECKING:
    from ganbench.run.context import WorkerContext
    from ganbench.run.progress import RunProgress
    from ganbench.run.worker import Outcome
    from ganbench.suite import Job


class Executor(Protocol):
    """Runs groups of jobs and yields each group's outcomes as soon as that group is done.

    Only the caller (the driver) writes to the run folder, so an executor never touches it. It hands
    `context` (picklable; its device is the CLI's choice, resolved where the jobs run) to `run_group`.
    """

    local: bool  # whether jobs run in this process (so the driver's device is theirs)

    def run(
        self, groups: list[list[Job]], context: WorkerContext, progress: RunProgress
    ) -> Iterator[list[Outcome]]: ...


@dataclass(frozen=True)
class ExecutorOptions:
    """The command line's executor options; each executor declares which of them it reads."""

    address: str | None = None  # --address
    cpus_per_job: float = 1.0  # --cpus-per-job
    gpus_per_job: float = 0.0  # --gpus-per-job


@dataclass(frozen=True)
class ExecutorSpec:
    """A registered executor: how to build it from the options, and which options it reads."""

    name: str
    description: str
    build: Callable[[ExecutorOptions], Executor]
    options: tuple[str, ...] = ()


EXECUTORS: Registry[ExecutorSpec] = Registry("executor")


class LocalExecutor:
    """In this process, one group after another, with step-level progress."""

    local = True

    def run(
        self, groups: list[list[Job]], context: WorkerContext, progress: RunProgress
    ) -> Iterator[list[Outcome]]:
        from ganbench.run.worker import run_group

        started = 0
        for group in groups:
            progress.job_started(started + 1, sum(map(len, groups)), group)
            started += len(group)
            yield run_group(group, context, progress=progress)


def _ray(options: ExecutorOptions) -> Executor:
    from ganbench.run.ray_executor import RayExecutor  # the only module that imports ray

    return RayExecutor(options.address, options.cpus_per_job, options.gpus_per_job)


EXECUTORS.add(
    "local", ExecutorSpec("local", "in this process, one job group after another", lambda _: LocalExecutor())
)
EXECUTORS.add(
    "ray",
    ExecutorSpec(
        "ray",
        "each job group a Ray task, on a local Ray instance or a cluster (pip install 'ganbench[ray]')",
        _ray,
        options=("address", "cpus_per_job", "gpus_per_job"),
    ),
)


def make_executor(name: str, options: ExecutorOptions | None = None) -> Executor:
    """The executor registered as `name`; an option it does not read, set on the command line, is an error."""
    options = options or ExecutorOptions()
    spec = EXECUTORS.get(name)
    defaults = ExecutorOptions()
    for option in fields(ExecutorOptions):
        value = getattr(options, option.name)
        if value != getattr(defaults, option.name) and option.name not in spec.options:
            flag = "--" + option.name.replace("_", "-")
            readers = [n for n in EXECUTORS if option.name in EXECUTORS.get(n).options]
            raise GanbenchError(f"{flag} needs --executor {' or '.join(readers) or '(none reads it)'}")
    if options.cpus_per_job <= 0 or options.gpus_per_job < 0:
        raise GanbenchError(
            f"--cpus-per-job must be > 0 and --gpus-per-job >= 0 (got {options.cpus_per_job:g}, "
            f"{options.gpus_per_job:g})"
        )
    return spec.build(options)
