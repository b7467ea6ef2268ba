"""The Ray executor: each job group is a Ray task; the only module that imports `ray` (lazily)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ganbench.errors import GanbenchError
from ganbench.run.worker import Outcome, new_record, run_group

if TYPE_CHECKING:
    from ganbench.run.context import WorkerContext
    from ganbench.run.progress import RunProgress
    from ganbench.suite import Job

# A worker process that dies (killed, out of memory, os._exit) is retried this many times by Ray
# before its jobs are recorded `failed`. A job that raises is not retried: it is recorded at once.
MAX_RETRIES = 2


class RayExecutor:
    """Sends every job group to Ray as a task with `cpus`/`gpus` per task.

    Without `address` it starts a local Ray instance, so one machine's cores all work; with one
    (`ray://host:10001` or `auto`) it joins that cluster. The workers need ganbench (and any
    GANBENCH_PLUGINS modules) importable in the same versions as the driver.
    """

    local = False

    def __init__(self, address: str | None = None, cpus: float = 1, gpus: float = 0) -> None:
        self.address, self.cpus, self.gpus = address, cpus, gpus

    def _start(self) -> Any:
        try:
            import ray
        except ImportError:
            raise GanbenchError('--executor ray needs Ray: pip install "ganbench[ray]"') from None
        if not ray.is_initialized():
            # Workers must find ganbench and the plugin modules (PYTHONPATH) when they start; the
            # driver's settings travel with each task to `run_group` (its WorkerContext).
            env = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": env} if env else None,
            )
        return ray

    def run(
        self, groups: list[list[Job]], context: WorkerContext, progress: RunProgress
    ) -> Iterator[list[Outcome]]:
        ray = self._start()
        # The same worker entry point as the local executor, with the driver's context (paths,
        # plugins, threads) applied in the worker process; the device is resolved there.
        task = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=MAX_RETRIES)(run_group)
        pending = {task.remote(group, context): group for group in groups}
        total, done_jobs = sum(map(len, groups)), 0
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            group = pending.pop(ref)
            progress.job_started(done_jobs + 1, total, group)
            done_jobs += len(group)
            try:
                yield ray.get(ref)
            except ray.exceptions.RayError as err:  # the worker died MAX_RETRIES + 1 times
                yield [_crashed(job, err) for job in group]


def _crashed(job: Job, err: Exception) -> Outcome:
    record = new_record(job, [job.key])
    record.fail(f"worker died {MAX_RETRIES + 1} times ({type(err).__name__})")
    return record, None
