"""`ganbench throughput`: load the suite, guard the folder, measure what it does not hold yet, report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ganbench.throughput.spec import Dtype, Options, load_throughput_suite

if TYPE_CHECKING:
    from ganbench.report import Report

__all__ = ["Dtype", "Options", "measure_suite"]


def measure_suite(
    suite: str,
    options: Options,
    device: str = "auto",
    out: Path | None = None,
    quick: bool = False,
    methods: list[str] | None = None,
    on_job: Callable[[int, int, str], None] | None = None,
) -> tuple[Path, Report]:
    """Measure what `out` does not hold yet of the throughput suite `suite`, then report."""
    # Here, not at the top: the CLI imports this module for its option types, and --help stays fast.
    from ganbench.device import resolve_device
    from ganbench.records.store import default_out, stored_count
    from ganbench.report import build_report
    from ganbench.run import guard
    from ganbench.run.driver import RunInterrupted
    from ganbench.throughput.measure import run_throughput

    loaded = load_throughput_suite(suite)
    torch_device = resolve_device(device)
    root = out if out is not None else default_out(loaded.name)
    guard.check_out(root)
    phase = "measurement"
    try:
        with guard.locked(root):
            run_throughput(loaded, root, torch_device, options, quick, methods, on_job)
            phase = "the report"
            report = build_report([root], root)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI turns it into KeyboardInterrupt)
        raise RunInterrupted(root, stored_count(root), len(loaded.jobs(quick)), phase) from None
    return root, report
