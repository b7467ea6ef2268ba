"""`ganbench eval`: plan the scoring tasks, guard the folder, score what is not stored, then report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ganbench.device import resolve_device
from ganbench.metrics import METRICS
from ganbench.paths import Paths
from ganbench.records.store import RunStore, default_out, stored_count
from ganbench.report import Report, build_report
from ganbench.run import guard, manifest
from ganbench.run.driver import RunInterrupted
from ganbench.run.evaluate import Source, plan, score_task

__all__ = ["Source", "evaluate"]


def evaluate(
    source: Source,
    *,
    suite: str | None = None,
    dataset: str | None = None,
    metrics: Sequence[str] | None = None,
    label: str | None = None,
    seeds: int | None = None,
    out: Path | None = None,
    device: str = "auto",
    paths: Paths | None = None,
    say: Callable[[str], None] = print,
) -> tuple[Path, Report, list[str]]:
    """Score `source` into the run folder `out`; returns the folder, its report and the failed keys."""
    if paths is not None:
        paths.use()
    tasks = plan(source, suite=suite, dataset=dataset, metrics=metrics, label=label, seeds=seeds)
    where = resolve_device(device)
    for name in dict.fromkeys(m for task in tasks for m in task.job.metrics):
        if METRICS.get(name).prepare is not None:
            METRICS.get(name).prepare(say)  # weights and classifiers found before anything is written
    root = out if out is not None else default_out(tasks[0].job.suite)
    guard.check_out(root)
    failed: list[str] = []
    with guard.locked(root):
        store = RunStore(root)
        stored = {record.key: record for record in store.records()}
        store.plan()
        guard.check_settings(stored, {task.job.key: task.config for task in tasks}, root)
        session = manifest.capture(where)
        store.write_manifest(session)
        store.add_to_plan([task.job.key for task in tasks])
        phase = "scoring"
        try:
            for index, task in enumerate(tasks, start=1):
                if task.job.key in stored and stored[task.job.key].status != "failed":
                    continue  # scored before: the same command resumes
                record, samples = score_task(task, where, session)
                store.save(record, samples)
                if record.status == "failed":
                    failed.append(record.key)
                say(f"scored {index}/{len(tasks)}: {record.key} ({record.status})")
            phase = "the report"
            report = build_report([root], root)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what is stored, and the command that resumes
            # The folder exists (its plan is written): 0 stored is still a folder the command resumes.
            raise RunInterrupted(root, stored_count(root) or 0, len(tasks), phase) from None
    return root, report, failed
