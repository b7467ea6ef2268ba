"""What a worker needs from the driver, typed: device, run-folder subfolders, paths, plugins, threads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganbench import plugins
from ganbench.device import DeviceChoice, use_threads
from ganbench.paths import Paths


@dataclass(frozen=True)
class WorkerContext:
    """Everything a job group's process must share with the driver, wherever it runs (this process, a
    pool process, a Ray worker on another machine). It pickles, so an executor hands it on as it is.
    """

    device: str = DeviceChoice.auto.value  # the CLI's choice, resolved in the worker's own process
    # The run folder's checkpoints/ (suites with checkpoint_every) and generators/ ([eval]
    # keep_generators); None: the group keeps neither (an estimate, a test).
    checkpoints: Path | None = None
    generators: Path | None = None
    paths: Paths = field(default_factory=Paths)  # data root, Inception weights, cache: those set
    plugins: tuple[str, ...] = ()  # plugin modules the driver loaded (entry points load anywhere)
    threads: int | None = None  # intra-op threads per group (None: the worker's free cores)

    @classmethod
    def of_driver(
        cls, device: str, checkpoints: Path | None = None, generators: Path | None = None
    ) -> WorkerContext:
        """This (the driver's) process's settings, for groups that write into these folders."""
        return cls(
            device=str(device),
            checkpoints=checkpoints.resolve() if checkpoints is not None else None,
            generators=generators.resolve() if generators is not None else None,
            paths=Paths.of_environment(),
            plugins=tuple(plugins.load()),
            threads=torch.get_num_threads(),
        )

    def apply(self) -> None:
        """Make this process match the driver: its paths, its plugins and its thread count."""
        self.paths.use()
        plugins.load(self.plugins)
        use_threads(self.threads)
