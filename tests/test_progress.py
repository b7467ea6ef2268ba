"""Progress in a log: the run folder first, one plain line per finished job, the resume line on SIGTERM."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import write_tiny_suite
from rich.console import Console
from typer.testing import CliRunner

from ganbench.cli import EXIT_TERMINATED, app
from ganbench.records.record import MetricResult, MetricSpec, Record
from ganbench.run.progress import PlainProgress, RichProgress, clock_time
from ganbench.suite import load_suite

JOB_LINE = re.compile(r"\[(\d+)/(\d+)\] (\S+) (\w+) (\d+\.\d) s, ETA (\d+:\d\d:\d\d)")


def _start(suite: Path, out: Path) -> subprocess.Popen:
    """`ganbench run` in a subprocess, stdout and stderr to pipes (what CI and nohup see)."""
    env = {**os.environ, "GANBENCH_THREADS": "1"}
    command = [sys.executable, "-m", "ganbench", "run", "--suite", str(suite), "--out", str(out)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _record(key: str, wall_seconds: float | None = 1.0) -> Record:
    return Record(
        kind="train", key=key, method="gan", cell="ring-8", seed=0, config={}, metric_specs={},
        wall_seconds=wall_seconds,
    )  # fmt: skip


@pytest.mark.e2e
def test_a_piped_run_names_its_folder_first_then_one_plain_line_per_job(tmp_path: Path) -> None:
    # Two methods x two seeds: two stacked groups of two jobs, whose members finish together.
    suite, out = write_tiny_suite(tmp_path, methods=("gan", "wgan"), seeds=2, steps=10), tmp_path / "run"
    process = _start(suite, out)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "\x1b" not in stdout + stderr, "no ANSI codes in a log"
    lines = stdout.splitlines()
    assert lines[0] == f"run folder: {out} (4 jobs)"
    keys = ["gan__ring-8__seed0", "gan__ring-8__seed1", "wgan__ring-8__seed0", "wgan__ring-8__seed1"]
    jobs = [JOB_LINE.fullmatch(line) for line in lines[1:5]]
    assert all(jobs), lines[1:5]
    assert [(m[1], m[2], m[3], m[4]) for m in jobs] == [(str(i), "4", k, "ok") for i, k in enumerate(keys, 1)]
    assert jobs[-1][6] == "0:00:00", "nothing left after the last job"
    assert sum(bool(JOB_LINE.match(line)) for line in lines) == 4, "one line per job, no more"

    # A resumed run counts only the jobs it runs, and says how many were finished before.
    result = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out), "--seeds", "3"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"run folder: {out} (2 jobs to run, 4 already finished)"
    assert [JOB_LINE.fullmatch(line).group(1, 2, 3) for line in lines[1:3]] == [
        ("1", "2", "gan__ring-8__seed2"),
        ("2", "2", "wgan__ring-8__seed2"),
    ]


def test_plain_lines_count_jobs_and_give_the_mean_time_eta(tmp_path: Path) -> None:
    pair = load_suite(str(write_tiny_suite(tmp_path, methods=("gan",)))).jobs()  # seeds 0 and 1
    times = iter([100.0, 100.0, 112.0, 112.0, 130.0, 3700.0, 3760.0])
    stream = io.StringIO()
    progress = PlainProgress(stream, clock=lambda: next(times))  # the first reading is the constructor's
    progress.run_started(Path("/runs/tiny"), 5, 1)
    progress.job_started(1, 5, pair)
    for key in ("gan__ring-8__seed0", "gan__ring-8__seed1"):  # a stacked pair: 12 s, 6 s each
        progress.job_finished(_record(key, 6.0))
    crashed = _record("wgan__ring-8__seed0", None)  # a worker that died: no time of its own
    crashed.fail("worker died 3 times (RayActorError)")
    progress.job_finished(crashed)
    inexact = _record("wgan__ring-8__seed1", 3570.0)
    spec = MetricSpec("nats", higher_is_better=False, rel_tol=0.1, abs_tol=0.0)
    inexact.metrics = {"reverse-kl": MetricResult(1.5, spec, exact=False, note="from 200 samples only")}
    progress.job_finished(inexact)
    progress.job_finished(_record("gan__grid-25__seed0", 60.0))
    assert stream.getvalue().splitlines() == [
        "run folder: /runs/tiny (5 jobs to run, 1 already finished)",
        "[1/5] gan__ring-8__seed0 ok 6.0 s, ETA 0:00:18",  # 12 s for the pair, 3 left
        "[2/5] gan__ring-8__seed1 ok 6.0 s, ETA 0:00:18",  # 12 s for 2 jobs, 3 left
        "[3/5] wgan__ring-8__seed0 failed 18.0 s, ETA 0:00:20",  # 30 s for 3, 2 left; 130 - 112 s
        "  wgan__ring-8__seed0: failed: worker died 3 times (RayActorError)",
        "[4/5] wgan__ring-8__seed1 ok 3570.0 s, ETA 0:15:00",  # 3600 s for 4 jobs, 1 left
        "  wgan__ring-8__seed1: reverse-kl from 200 samples only",
        "[5/5] gan__grid-25__seed0 ok 60.0 s, ETA 0:00:00",
    ]
    assert [clock_time(s) for s in (0.4, 59.6, 3725, 97200)] == ["0:00:00", "0:01:00", "1:02:05", "27:00:00"]


def test_the_eta_follows_the_runs_own_per_group_estimate() -> None:
    # Three groups estimated at 10 s, 10 s and 300 s (a costly last group, as WGAN-GP after GAN):
    # the mean time per job would say 20 s left after two of the three; the estimate says 300 s,
    # scaled by how the finished groups' real time compared with theirs (24 s for 20 estimated: 1.2).
    groups = [[SimpleNamespace(key=f"{name}__ring-8__seed0")] for name in ("gan", "gan-ns", "wgan-gp")]
    times = iter([0.0, 0.0, 12.0, 24.0, 384.0])
    stream = io.StringIO()
    progress = PlainProgress(stream, clock=lambda: next(times))
    progress.run_started(Path("/runs/mc"), 3, 0)
    progress.expect(
        {group[0].key: seconds for group, seconds in zip(groups, (10.0, 10.0, 300.0), strict=True)}
    )
    for index, group in enumerate(groups, start=1):
        progress.job_started(index, 3, group)
        progress.job_finished(_record(group[0].key, 12.0))
    assert [line.split(", ETA ")[1] for line in stream.getvalue().splitlines()[1:]] == [
        "0:06:12",  # 12 s for 10 estimated: the 310 s of the groups to come x 1.2 = 372 s
        "0:06:00",  # 24 s for 20: 300 x 1.2 = 360 s
        "0:00:00",
    ]


def test_the_eta_of_two_groups_that_differ_5x_in_cost() -> None:
    # A cheap group (10 s estimated) then one 5x as costly (50 s). After the first, the mean time per
    # finished job would say 0:00:08 left (8 s for one job, one to go); the per-group estimate says
    # 50 s x (8 s / 10 s estimated) = 40 s.
    groups = [[SimpleNamespace(key="gan__ring-8__seed0")], [SimpleNamespace(key="wgan-gp__ring-8__seed0")]]
    times = iter([0.0, 0.0, 8.0, 48.0])
    stream = io.StringIO()
    progress = PlainProgress(stream, clock=lambda: next(times))
    progress.run_started(Path("/runs/two"), 2, 0)
    progress.expect({groups[0][0].key: 10.0, groups[1][0].key: 50.0})
    for index, group in enumerate(groups, start=1):
        progress.job_started(index, 2, group)
        progress.job_finished(_record(group[0].key, 8.0))
    assert [line.split(", ETA ")[1] for line in stream.getvalue().splitlines()[1:]] == ["0:00:40", "0:00:00"]


def test_a_terminal_names_the_folder_too() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    with RichProgress(console) as progress:
        progress.run_started(Path("/runs/tiny"), 12, 0)
    assert "run folder: /runs/tiny (12 jobs)" in console.file.getvalue()


def test_a_terminal_shows_job_names_as_they_are() -> None:
    # The bar's text is not rich markup: a sweep label with `[bold]` or `:ring:` shows as typed.
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    job = SimpleNamespace(method="gan", dataset="ring-8", label="note=[bold]x[/bold]:ring:", seed=0,
                          train=SimpleNamespace(steps=10))  # fmt: skip
    with RichProgress(console) as progress:
        progress.job_started(1, 1, [job])
    assert "gan / ring-8 note=[bold]x[/bold]:ring: seed 0" in console.file.getvalue()


@pytest.mark.e2e
def test_sigterm_in_a_piped_run_prints_the_resume_command(tmp_path: Path) -> None:
    # Enough steps that training is still going when the signal comes.
    suite, out = write_tiny_suite(tmp_path, methods=("gan",), seeds=1, steps=200_000), tmp_path / "run"
    process = _start(suite, out)
    try:
        seen = []
        while not seen or not seen[-1].startswith("run folder: "):
            line = process.stdout.readline()
            assert line, f"no folder line before the end: {seen} {process.communicate()}"
            seen.append(line)
        assert seen[-1] == f"run folder: {out} (1 jobs)\n"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == EXIT_TERMINATED, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("interrupted during training")]
    assert line.endswith(f" with: ganbench run --suite {suite} --out {out}")
    assert not JOB_LINE.search(stdout), "no job finished"
