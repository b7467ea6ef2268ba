"""`ganbench report` and `ganbench compare`: guard the output folder, read the runs, build and judge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ganbench.errors import GanbenchError
from ganbench.report import against_published, build_report, export
from ganbench.report.compare import (
    DEFAULT_ALPHA,
    Judging,
    compare,
    load_rows,
    parse_fail_if,
    to_json,
    to_markdown,
)
from ganbench.report.tables import check_number_format
from ganbench.run.guard import check_out

COMPARE_FORMATS = ("markdown", "json", *export.EXPORT_FORMATS)


def report_formats(fmt: str, number_format: str | None) -> tuple[str | None, bool]:
    """(the dashboard export to write or None, whether to print LaTeX) from `report --format`, checked
    with `--number-format` before any work: a number format given to `--format` is pointed there."""
    if number_format is not None:
        check_number_format(number_format)
    formats = ("markdown", "latex", *export.EXPORT_FORMATS)
    if fmt in formats:
        return (fmt if fmt in export.EXPORT_FORMATS else None), fmt == "latex"
    try:
        check_number_format(fmt)
    except GanbenchError:
        raise GanbenchError(f"--format: '{fmt}' is not one of {', '.join(formats)}") from None
    raise GanbenchError(f"--format: '{fmt}' is a number format: give it as --number-format {fmt}")


def report(
    runs: Sequence[Path],
    out: Path | None = None,
    *,
    metrics: list[str] | None = None,
    methods: list[str] | None = None,
    fmt: str = "markdown",
    number_format: str | None = None,
    sample_seed: int | None = None,
    against: str | None = None,
    alpha: float = 0.05,
) -> list[str]:
    """Rebuild tables and figures from run folders (or set them beside a published table); the texts
    to print, in order."""
    dashboard, latex = report_formats(fmt, number_format)
    if out is None and len(runs) > 1:
        raise GanbenchError("give --out DIR for a report over several run folders")
    if out is not None:
        check_out(out)  # an unrelated folder's records.csv and summary.* are never overwritten
    where = out or runs[0]
    if against is not None:
        markdown, files = against_published(runs, where, against, alpha, number_format or ".3g")
        if latex:  # the against-<table>.tex just written
            markdown = next(f for f in files if f.suffix == ".tex").read_text(encoding="utf-8")
        shown = [markdown, f"wrote {', '.join(f.name for f in files)} in {where}"]
    else:
        result = build_report(runs, where, metrics, methods, number_format, sample_seed)
        shown = [result.latex if latex else result.markdown, f"wrote {len(result.files)} files under {where}"]
    if dashboard is not None:
        found = export.entries_of_runs(runs, methods, metrics)
        shown.append(export.written(dashboard, found, export.write(found, dashboard, where)))
    return shown


@dataclass(frozen=True)
class CompareOptions:
    """How `ganbench compare` judges (None: each metric's own tolerance, the default alpha)."""

    rel_tol: float | None = None
    abs_tol: float | None = None
    alpha: float | None = None
    correction: str = "none"
    allow_missing: bool = False
    fail_if: tuple[str, ...] = ()


def compare_runs(
    baseline: Path, candidate: Path, options: CompareOptions, fmt: str = "markdown", verbose: bool = False,
    out: Path | None = None,
) -> tuple[list[str], int]:  # fmt: skip
    """Judge `candidate` against `baseline`: the texts to print and the exit code (1: a regression or a
    missing row). The dashboard formats also write the candidate's values as that dashboard's JSON."""
    dashboard = fmt in export.EXPORT_FORMATS
    if out is not None and not dashboard:
        raise GanbenchError(f"--out is for --format {' or '.join(export.EXPORT_FORMATS)}, not {fmt}")
    base = load_rows(baseline)
    rows = load_rows(candidate)  # the dashboards get the candidate's values: the run being judged
    judging = Judging(
        options.rel_tol, options.abs_tol, DEFAULT_ALPHA if options.alpha is None else options.alpha,
        options.correction, options.allow_missing, parse_fail_if(list(options.fail_if)),
    )  # fmt: skip
    verdict = compare(base, rows, judging)
    if fmt == "json":
        return [to_json(verdict)], verdict.exit_code
    shown = [to_markdown(verdict, verbose)]
    if dashboard:
        found = export.entries(rows, export.verdicts_of(verdict.rows))
        shown.append(export.written(fmt, found, export.write(found, fmt, out or Path("."))))
    # The verdict again as the last line of a log, where a reader looks first.
    shown.append(f"ganbench compare: {verdict.summary}")
    return shown, verdict.exit_code
