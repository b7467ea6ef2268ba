"""Choosing the torch device from the CLI's `auto|cpu|cuda`, and the number of CPU threads."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from ganbench.errors import GanbenchError

if TYPE_CHECKING:
    import torch


class DeviceChoice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def resolve_device(choice: DeviceChoice | str) -> torch.device:
    """`auto` picks CUDA when available; asking for CUDA without one is an error."""
    import torch  # here, not at the top: `ganbench --help` should not wait for torch

    choice = DeviceChoice(choice)
    if choice is DeviceChoice.cuda and not torch.cuda.is_available():
        raise GanbenchError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    if choice is DeviceChoice.cpu or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


# `ganbench run --threads N` sets this, so every process of a run (local or Ray workers, which get
# the driver's forwarded environment) uses the same number of intra-op threads.
THREADS_ENV = "GANBENCH_THREADS"


# How long `free_cores` watches the CPUs; short enough not to be noticed at start-up.
BUSY_SAMPLE_SECONDS = 0.3


def _busy_cores() -> float:
    """Cores busy with other work now: the non-idle share of /proc/stat's CPU time over a short
    window, in cores. Without /proc (macOS), the 1-minute load average."""
    import os
    import time

    def times() -> list[int] | None:
        try:
            with open("/proc/stat", encoding="ascii") as stat:
                return [int(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None

    first = times()
    if first is None:
        return os.getloadavg()[0]
    time.sleep(BUSY_SAMPLE_SECONDS)
    second = times() or first
    delta = [b - a for a, b in zip(first, second, strict=False)]
    total = sum(delta)
    idle = delta[3] + (delta[4] if len(delta) > 4 else 0)  # idle and iowait
    return (os.cpu_count() or 1) * (total - idle) / total if total else 0.0


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one), at least 1."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def free_cores() -> int:
    """The usable cores not busy with other work right now, at least 1.

    OpenMP threads spin while they wait, so more threads than free cores makes every thread wait
    for the ones descheduled: with one other busy process on a 2-core machine the quick
    mode-collapse suite took 62.6 s with 2 threads and 36.1 s with 1 (docs/pages/scaling/threads.md).
    """
    cores = usable_cores()
    return max(1, min(cores, round(cores - _busy_cores())))


# OpenMP's own setting, which CI recipes and cluster schedulers set; honoured after ganbench's own.
OMP_ENV = "OMP_NUM_THREADS"


def _threads_from_environment() -> int | None:
    """$GANBENCH_THREADS, else $OMP_NUM_THREADS (its first level, as in "4,2"), else None."""
    import os

    for name in (THREADS_ENV, OMP_ENV):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        first = value.split(",")[0].strip() if name == OMP_ENV else value
        try:
            return int(first)
        except ValueError:
            raise GanbenchError(f"{name} must be a whole number, got {value!r}") from None
    return None


def use_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads: `threads`, else $GANBENCH_THREADS, else $OMP_NUM_THREADS, else
    `free_cores()`.

    The choice is exported to $GANBENCH_THREADS so that worker processes make the same one.
    """
    import os

    import torch

    if threads is None:
        threads = _threads_from_environment()
    if threads is not None and threads < 1:
        raise GanbenchError(f"threads must be at least 1, got {threads}")
    chosen = threads if threads is not None else free_cores()
    torch.set_num_threads(chosen)
    os.environ[THREADS_ENV] = str(chosen)
    return chosen
