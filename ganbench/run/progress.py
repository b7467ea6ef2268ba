"""Progress of a run: what the driver and worker report; rich bars for a terminal, plain lines for a log."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ganbench.terminal import printable

if TYPE_CHECKING:
    from ganbench.records.record import Record
    from ganbench.suite import Job


class RunProgress(Protocol):
    """What a run reports while it works (the CLI shows it as rich bars, or plain lines in a log)."""

    def note(self, message: str) -> None: ...
    def expect(self, seconds: dict[str, float]) -> None: ...
    def run_started(self, root: Path, total: int, skipped: int) -> None: ...
    def job_started(self, index: int, total: int, jobs: list[Job]) -> None: ...
    def step(self, done: int, total: int) -> None: ...
    def job_finished(self, record: Record) -> None: ...


def folder_line(root: Path, total: int, skipped: int) -> str:
    """`run folder: /abs/path (12 jobs)`, or `(8 jobs to run, 4 already finished)` when resuming."""
    jobs = f"{total} jobs to run, {skipped} already finished" if skipped else f"{total} jobs"
    return f"run folder: {Path(root).absolute()} ({jobs})"


def unusual_lines(record: Record) -> list[str]:
    """The extra lines of a job worth a look: a status other than ok, a metric computed inexactly."""
    lines = [f"  {record.key}: {record.status}: {record.reason}"] if record.status != "ok" else []
    lines += [f"  {record.key}: {name} {r.note}" for name, r in record.metrics.items() if not r.exact]
    return lines


def clock_time(seconds: float) -> str:
    """`0:00:37`, `1:02:05`, `27:00:00`: hours, minutes and seconds, rounded to the second."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


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

    def expect(self, seconds: dict[str, float]) -> None:
        pass

    def run_started(self, root: Path, total: int, skipped: int) -> None:
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
            TextColumn("{task.description}", markup=False),  # job names print as they are (cli.console)
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
        self.console.print(printable(message), markup=False, highlight=False)

    def expect(self, seconds: dict[str, float]) -> None:
        pass  # the bars show elapsed time; the estimate line said the total

    def run_started(self, root: Path, total: int, skipped: int) -> None:
        self.console.print(folder_line(root, total, skipped), markup=False, highlight=False)

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
        for line in unusual_lines(record):
            self.console.print(line, markup=False)


class PlainProgress:
    """A `RunProgress` for a log (CI, nohup, a pipe): plain lines, each flushed as it is printed.

    The run folder first, then one line per finished job, `[3/12] gan__ring-8__seed2 ok 4.1 s, ETA 0:00:37`,
    where the seconds are the job's own (its share of a stacked group's time). When the run measured
    its groups before starting (`expect`: each group's estimated training seconds, by its first job's
    key), the ETA is the estimate of the groups not yet started, times the ratio of the time the
    finished groups really took to their estimate (evaluation and start-up included that way); so a
    run whose last groups are its costliest is not misjudged. Otherwise it is the mean time per
    finished job so far times the jobs left. Members of a stacked group finish together, one line
    each: the ETA counts the whole group as finished from its first line (else the first line of a
    group of 8 would divide the group's time by 1 and overstate the ETA 8-fold).
    """

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.total = 0
        self.done = 0
        self.group_end = 0  # the number of jobs finished once the group training now is done
        self.expected: dict[str, float] = {}  # estimated seconds of each group, by its first job's key
        self.begun: set[str] = set()  # the groups (first job's key) started so far
        self.started = clock()
        self.last = self.started

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _print(self, line: str) -> None:
        # sys.stdout is looked up at each line, so a stream swapped in later (a test runner) gets them.
        print(line, file=self.stream or sys.stdout, flush=True)

    def note(self, message: str) -> None:
        self._print(printable(message))

    def expect(self, seconds: dict[str, float]) -> None:
        self.expected = dict(seconds)

    def run_started(self, root: Path, total: int, skipped: int) -> None:
        self.total, self.done = total, 0
        self.started = self.last = self.clock()
        self._print(folder_line(root, total, skipped))

    def job_started(self, index: int, total: int, jobs: list[Job]) -> None:
        self.total = max(self.total, total)
        self.group_end = index - 1 + len(jobs)
        self.begun.add(jobs[0].key)

    def step(self, done: int, total: int) -> None:
        pass

    def job_finished(self, record: Record) -> None:
        now = self.clock()
        self.done += 1
        total = max(self.total, self.done)
        # A record without its own time (a worker that died) gets the time since the previous line.
        seconds = record.wall_seconds if record.wall_seconds is not None else now - self.last
        self.last = now
        finished = min(total, max(self.done, self.group_end))
        eta = self._eta(now - self.started, finished, total)
        self._print(
            f"[{self.done}/{total}] {record.key} {record.status} {seconds:.1f} s, ETA {clock_time(eta)}"
        )
        for line in unusual_lines(record):
            self._print(line)

    def _eta(self, elapsed: float, finished: int, total: int) -> float:
        """Seconds left: by the run's own per-group estimate where it has one, else by jobs."""
        done = sum(self.expected[k] for k in self.begun if k in self.expected)
        if self.expected and done > 0:
            left = sum(s for k, s in self.expected.items() if k not in self.begun)
            return left * elapsed / done
        return elapsed / finished * (total - finished)
