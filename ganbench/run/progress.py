"""Progress of a run: what the driver and worker report, and rich bars (job i of n, training step)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from ganbench.run.records import Record
    from ganbench.suite import Job


class RunProgress(Protocol):
    """What a run reports while it works (the CLI shows it as rich progress bars)."""

    def note(self, message: str) -> None: ...
    def job_started(self, index: int, total: int, jobs: list[Job]) -> None: ...
    def step(self, done: int, total: int) -> None: ...
    def job_finished(self, record: Record) -> None: ...


def group_label(jobs: list[Job]) -> str:
    """`ring-8 seeds 0,1,2 + grid-25 seeds 0,1,2`: the datasets (with a sweep's settings,
    `ring-8 steps=1000 seeds 0,1`) and seeds of jobs trained together."""
    seeds: dict[str, list[str]] = {}
    for job in jobs:
        seeds.setdefault(" ".join(filter(None, (job.dataset, job.label))), []).append(str(job.seed))
    return " + ".join(f"{d} seed{'s' if len(s) > 1 else ''} {','.join(s)}" for d, s in seeds.items())


class Silent:
    """A `RunProgress` that shows nothing (library calls, remote workers)."""

    def note(self, message: str) -> None:
        pass

    def job_started(self, index: int, total: int, jobs: list[Job]) -> None:
        pass

    def step(self, done: int, total: int) -> None:
        pass

    def job_finished(self, record: Record) -> None:
        pass


class RichProgress:
    """A `RunProgress` that draws two bars (jobs, steps) and prints a line per unusual job."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.jobs = self.bars.add_task("jobs", total=None)
        self.steps = self.bars.add_task("steps", total=None)
        self._every = 1

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars.live.is_started:
            self.bars.stop()

    def note(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    def job_started(self, index: int, total: int, jobs: list[Job]) -> None:
        # Bars appear with the first job, so an input error prints its one line and nothing else.
        if not self.bars.live.is_started:
            self.bars.start()
        job = jobs[0]
        numbers = f"{index}" if len(jobs) == 1 else f"{index}-{index + len(jobs) - 1}"
        label = f"job {numbers}/{total}: {job.method} / {group_label(jobs)}"
        self.bars.update(self.jobs, description=label, total=total, completed=index - 1)
        self.bars.reset(self.steps, total=job.train.steps, description="  training steps")
        self._every = max(1, job.train.steps // 200)  # redraw at most ~200 times per job

    def step(self, done: int, total: int) -> None:
        if done % self._every == 0 or done == total:
            self.bars.update(self.steps, completed=done)

    def job_finished(self, record: Record) -> None:
        self.bars.advance(self.jobs)
        if record.status != "ok":
            self.console.print(f"  {record.key}: {record.status}: {record.reason}", markup=False)
        for name, result in record.metrics.items():
            if not result.exact:
                self.console.print(f"  {record.key}: {name} {result.note}", markup=False)
