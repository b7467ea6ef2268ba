"""A verdict as Markdown for a CI job summary, or as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from ganbench.report.compare.verdict import JUDGEMENTS, FlaggedSeeds, RowVerdict, Verdict


def to_markdown(verdict: Verdict, verbose: bool = False) -> str:
    """The verdict as Markdown for a CI job summary, short enough to be read there: the counts, then
    the table (what fails the build first: regressed, missing, then improved, new, unchanged), the
    settings that differ, the rows' notes, the convergence flags as counts per method, the rule.

    verbose: also list every flagged job (`to_json` always has them).
    """
    lines = [f"**ganbench compare**: {verdict.summary}", ""]
    lines += [
        "| method | dataset | metric | baseline | candidate | change | p | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in sorted(verdict.rows, key=lambda r: JUDGEMENTS.index(r.verdict)):
        cells = [
            row.method,
            row.dataset,
            row.metric,
            _mean_cell(row.baseline_mean, row.n_baseline),
            _mean_cell(row.candidate_mean, row.n_candidate),
            _change_cell(row),
            "—" if row.p_value is None else f"{row.p_value:.3g}",
            row.verdict,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if verdict.differing:
        lines += ["Settings that differ (baseline != candidate), per method:", ""]
        lines += [f"- {method}: {'; '.join(found)}" for method, found in verdict.differing.items()]
        lines.append("")
    blind = verdict.untestable
    if blind:
        lines += [
            f"Warning: {len(blind)} rows have too few values for the test to reach alpha "
            f"{verdict.judging.alpha:g}; they can never be judged changed (see the notes).",
            "",
        ]
    notes = [
        f"- {r.method} {r.dataset} {r.metric} [{r.settings_id}]: {r.note}" for r in verdict.rows if r.note
    ]
    if notes:
        lines += ["Notes:", *notes, ""]
    if verdict.flagged:
        listed = "listed below" if verbose else "--verbose or --format json lists them"
        lines += [
            f"Convergence flags, seeds flagged per method ({listed}):",
            *_flag_counts(verdict.flagged),
            "",
        ]
    tolerance = (
        "each metric's tolerances"
        if verdict.judging.rel_tol is None and verdict.judging.abs_tol is None
        else f"rel_tol {_or_own(verdict.judging.rel_tol)}, abs_tol {_or_own(verdict.judging.abs_tol)}"
    )
    # Two lines of one paragraph: a summary's reader sees it whole without scrolling sideways.
    lines += [
        f"A change counts when |change| > max(abs_tol, rel_tol · |baseline|) ({tolerance}) and,",
        f"with 2 or more values a side, a two-sided Mann-Whitney U test gives p <= {verdict.judging.alpha:g}"
        + (f" (Holm-adjusted over {verdict.family} rows)." if verdict.family > 1 else "."),
    ]
    if verdict.judging.fail_if:
        rules = ", ".join(f"{metric} {threshold}" for metric, threshold in verdict.judging.fail_if.items())
        lines.append(
            f"--fail-if: a change beyond {rules} of the baseline mean, in that direction, regresses."
        )
    lines.append(
        "Rows the candidate lacks pass (--allow-missing)."
        if verdict.judging.allow_missing
        else "Rows the candidate lacks (or has at other settings only) fail the build; "
        "--allow-missing lets them pass."
    )
    if verbose and verdict.flagged:
        lines += ["", "Flagged seeds:", *_flag_lists(verdict.flagged)]
    return "\n".join(lines) + "\n"


def _flag_group(found: FlaggedSeeds, every: tuple[FlaggedSeeds, ...]) -> str:
    """'wgan ring-8', with the settings id where the method and dataset come at several settings."""
    alike = sum((f.method, f.dataset) == (found.method, found.dataset) for f in every)
    return f"{found.method} {found.dataset}" + (f" [{found.settings_id}]" if alike > 1 else "")


def _flag_counts(every: tuple[FlaggedSeeds, ...]) -> list[str]:
    """'- wgan ring-8: baseline 3 of 8 off-modes; candidate 0 of 8 flagged', a line per group."""

    def counts(flags: Mapping[str, tuple[str, ...]], n: int) -> str:
        if not n:
            return "no seeds"
        return ", ".join(f"{len(jobs)} of {n} {flag}" for flag, jobs in flags.items()) or f"0 of {n} flagged"

    return [
        f"- {_flag_group(f, every)}: baseline {counts(f.baseline, f.n_baseline)}; "
        f"candidate {counts(f.candidate, f.n_candidate)}"
        for f in every
    ]


def _flag_lists(every: tuple[FlaggedSeeds, ...]) -> list[str]:
    """'- wgan ring-8, baseline, off-modes: wgan__ring-8__seed0, ...', a line per group x side x flag."""
    return [
        f"- {_flag_group(f, every)}, {side}, {flag}: {', '.join(jobs)}"
        for f in every
        for side, flags in (("baseline", f.baseline), ("candidate", f.candidate))
        for flag, jobs in flags.items()
    ]


def to_json(verdict: Verdict) -> str:
    """The verdict as JSON: counts, exit code, thresholds, every row (null where no value) and every
    flagged job (per method x dataset x settings)."""
    payload: dict[str, Any] = {
        "summary": verdict.counts,
        "exit_code": verdict.exit_code,
        "untestable": len(verdict.untestable),
        "alpha": verdict.judging.alpha,
        "correction": verdict.judging.correction,
        "family": verdict.family,
        "rel_tol": verdict.judging.rel_tol,
        "abs_tol": verdict.judging.abs_tol,
        "allow_missing": verdict.judging.allow_missing,
        "fail_if": {metric: str(threshold) for metric, threshold in verdict.judging.fail_if.items()},
        "differing": {method: list(found) for method, found in verdict.differing.items()},
        "rows": [asdict(row) for row in verdict.rows],
        "flagged": [asdict(found) for found in verdict.flagged],
    }
    return json.dumps(payload, indent=1, allow_nan=False)


def _mean_cell(mean: float | None, n: int) -> str:
    return "—" if mean is None else f"{mean:.4g} (n={n})"


def _change_cell(row: RowVerdict) -> str:
    if row.change is None:
        return "—"
    relative = "" if row.rel_change is None else f" ({row.rel_change:+.1%})"
    return f"{row.change:+.3g}{relative}"


def _or_own(tol: float | None) -> str:
    return "per metric" if tol is None else f"{tol:g}"
