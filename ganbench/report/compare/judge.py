"""Judge a candidate run against a baseline, row by row, every change against noise."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.errors import GanbenchError
from ganbench.records.store import differences
from ganbench.registry import suggest
from ganbench.report.compare.criteria import Judging, Threshold
from ganbench.report.compare.flags import flagged_seeds
from ganbench.report.compare.load import load_rows
from ganbench.report.compare.sides import Key, Rule, Side, registry_rank, settings_id, sides
from ganbench.report.compare.significance import can_reach, mann_whitney_p, smallest_p_value
from ganbench.report.compare.verdict import Judgement, RowVerdict, Verdict
from ganbench.report.stats import holm


def compare_runs(baseline: Path | str, candidate: Path | str, judging: Judging | None = None) -> Verdict:
    """`compare` over two run folders or records.csv files."""
    return compare(load_rows(baseline), load_rows(candidate), judging)


def compare(baseline: pd.DataFrame, candidate: pd.DataFrame, judging: Judging | None = None) -> Verdict:
    """Judge every row of `candidate` against `baseline` by this rule (`ganbench compare BASELINE
    CANDIDATE`, docs/pages/ci/compare.md):

    - Rows match by method x dataset x metric x settings. The settings are the job's config without
      the seed (and without the suite's list of metrics, which changes no metric's value): a baseline
      and a candidate trained for different numbers of steps do not match.
    - Only values of jobs with status `ok` are compared; each side may hold several (seeds, repeats).
    - A change counts only when the means differ by more than the tolerance,
      |candidate mean - baseline mean| > max(abs_tol, rel_tol * |baseline mean|), with the tolerances
      the metric declares beside its code (`register_metric`) unless overridden for every metric;
    - and, where both sides have at least 2 values, when a two-sided Mann-Whitney U test of the two
      samples gives p <= alpha (exact for up to 8 values a side, by enumerating every split when
      values tie; asymptotic beyond). Where a side has a single value, the tolerance alone decides.
      Why alpha defaults to 0.1: the comment on `significance.DEFAULT_ALPHA`.
    - A counted change is judged in the metric's direction (`higher_is_better`, stored in the run
      folder with every value; nothing here hard-codes it): worse is "regressed", better "improved";
      anything else is "unchanged".
    - A row of the baseline that the candidate lacks, or has only at other settings, is "missing" and
      fails the build: a gate that passes when a method's rows vanish (because a pull request changed
      its settings) passes broken methods. `allow_missing` lets such rows pass. The report lists, per
      method, every setting that differs between the two runs, once. A row of the candidate only is
      "new" and never fails. A row on both sides where every job of one side diverged or failed has no
      value to compare there: a candidate with none is "regressed", a baseline with none "improved",
      and with none on either side "missing".
    - `correction="holm"` judges significance on Holm-adjusted p-values over every tested row of the
      comparison (Holm 1979), so that an unchanged candidate fails the build by chance with probability
      at most alpha / 2 in all, not per row: at 16 rows and alpha 0.1 without it, an unchanged rerun
      fails with probability up to 1 - 0.95^16 = 0.56. It needs more values a side (8 vs 8 seeds reach
      adjusted p 0.0025 over 16 rows; 3 vs 3 can never reach 0.1 over 2 or more rows). "none" (the
      default) judges each row on its own p-value.
    - `fail_if` sets a metric's own threshold in pytest-benchmark's spirit: `w1:+10%` judges w1 by a
      relative change of 10% (no absolute floor), and an increase beyond it is a regression (a decrease
      beyond it an improvement), whatever the metric's registered direction; the significance test
      still applies where both sides have 2 or more values.

    Exit codes (`Verdict.exit_code`): 0 nothing regressed or went missing, 1 something did, 2 unusable
    input (a GanbenchError).

    Args:
        baseline: records (as `load_rows` returns them) of the reference run.
        candidate: records of the run under test.
        judging: tolerances, test, correction and the rest (`Judging`; default: each metric's own).

    Raises:
        GanbenchError: malformed records, an unknown metric, a `fail_if` metric
            that neither side has, or no rows in common.
    """
    judging = judging or Judging()
    base, cand = sides(baseline, "baseline"), sides(candidate, "candidate")
    known = {key[2] for key in base.keys() | cand.keys()}
    for metric in judging.fail_if:
        if metric not in known:
            raise GanbenchError(
                f"--fail-if: metric '{metric}' is in neither run{suggest(metric, sorted(known))}; "
                f"valid: {', '.join(sorted(known))}"
            )
    differing = _differing(base, cand)
    if not base.keys() & cand.keys():
        raise GanbenchError(
            f"no rows in common between baseline and candidate{_why_unmatched(base, cand, differing)}"
        )
    p_values = {
        key: mann_whitney_p(base[key].values, cand[key].values)
        for key in base.keys() & cand.keys()
        if min(len(base[key].values), len(cand[key].values)) >= 2
    }
    family = len(p_values) if judging.correction == "holm" and p_values else 1
    if family > 1:
        p_values = dict(zip(p_values, holm(list(p_values.values())), strict=True))
    rows = []
    for key in sorted(base.keys() | cand.keys(), key=registry_rank):
        if key in base and key in cand:
            test = _Test(p_values.get(key), judging.alpha, family)
            rows.append(_judge(key, base[key], cand[key], judging, test))
        else:
            rows.append(_one_side(key, base, cand))
    return Verdict(tuple(rows), judging, differing, flagged_seeds(base, cand))


@dataclass(frozen=True)
class _Test:
    """A row's significance test: its p-value (None: a side has a single value; Holm-adjusted when
    `family` > 1), the level and how many rows' p-values were adjusted together."""

    p_value: float | None
    alpha: float
    family: int = 1


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _judge(key: Key, base: Side, cand: Side, judging: Judging, test: _Test) -> RowVerdict:
    """The verdict of a row present on both sides (`test`: its p-value, computed with the others so
    that a correction can adjust them together)."""
    method, dataset, metric, settings = key
    b, c = base.values, cand.values
    # Convergence flags are not notes of a row: they are the jobs', summarized once per method
    # (Verdict.flagged), not repeated for every metric.
    notes = [
        f"{side}: {', '.join(s.not_ok)} (not compared)"
        for side, s in (("baseline", base), ("candidate", cand))
        if s.not_ok
    ]
    b_mean, c_mean = _mean(b), _mean(c)
    change = rel_change = p_value = None
    if b_mean is None or c_mean is None:
        verdict, note = _without_values(base, cand, b_mean, c_mean)
        notes.append(note)
    else:
        change = c_mean - b_mean
        rel_change = change / abs(b_mean) if b_mean != 0 else None
        p_value = test.p_value
        verdict = _judge_change(metric, base, cand, change, b_mean, judging, test, notes)
    return RowVerdict(
        method,
        dataset,
        metric,
        settings_id(settings),
        b_mean,
        c_mean,
        change,
        rel_change,
        len(b),
        len(c),
        p_value,
        verdict,
        "; ".join(notes),
    )


def _without_values(
    base: Side, cand: Side, b_mean: float | None, c_mean: float | None
) -> tuple[Judgement, str]:
    """The verdict and note of a row on both sides where a side has no value (no job finished ok)."""
    if b_mean is None and c_mean is None and _only_not_applicable(base, cand):
        # A figure that exists for neither run cannot have changed.
        reasons = "; ".join(dict.fromkeys(base.not_applicable + cand.not_applicable))
        return "unchanged", f"n/a on both sides: {reasons}"
    if b_mean is None and c_mean is None:
        return "missing", "no job finished ok on either side"
    if c_mean is None:
        return "regressed", "no candidate job finished ok"
    return "improved", "no baseline job finished ok"


def _only_not_applicable(*sides: Side) -> bool:
    """Whether every job of every side finished ok with the metric marked not computable for it."""
    return all(side.not_applicable and not side.not_ok for side in sides)


def _judge_change(
    metric: str,
    base: Side,
    cand: Side,
    change: float,
    b_mean: float,
    judging: Judging,
    test: _Test,
    notes: list[str],
) -> Judgement:
    """The verdict of a row with values on both sides: a change beyond the tolerance and significant
    (where tested) is judged in the metric's direction; the test's caveats go to `notes`."""
    threshold = judging.fail_if.get(metric)  # the metric's `--fail-if` rule
    rel_tol, abs_tol = _tolerances(base.rule, threshold, judging)
    bar = max(abs_tol, rel_tol * abs(b_mean))
    # A change equal to the tolerance is within it, float rounding of the means aside
    # (0.93 - 0.91 is 0.020000000000000018).
    beyond = abs(change) > bar and not math.isclose(abs(change), bar, rel_tol=1e-9)
    significant = _significant(len(base.values), len(cand.values), test, beyond, notes)
    # Better is the metric's direction, or under --fail-if the direction opposite the failing one.
    higher_is_better = base.rule.higher_is_better if threshold is None else threshold.sign < 0
    if beyond and significant:
        return "improved" if (change > 0) == higher_is_better else "regressed"
    return "unchanged"


def _tolerances(rule: Rule, threshold: Threshold | None, judging: Judging) -> tuple[float, float]:
    """(rel_tol, abs_tol) of a row: its `--fail-if` rule's relative bar with no absolute floor, else
    the tolerances given for every metric, else the metric's own (`rule`: the direction and default
    tolerances stored with the baseline's records)."""
    if threshold is not None:
        return threshold.fraction, 0.0
    rel_tol = rule.rel_tol if judging.rel_tol is None else judging.rel_tol
    abs_tol = rule.abs_tol if judging.abs_tol is None else judging.abs_tol
    return rel_tol, abs_tol


def _significant(n_baseline: int, n_candidate: int, test: _Test, beyond: bool, notes: list[str]) -> bool:
    """Whether the test counts the row's change (True where a side has a single value: the tolerance
    alone decides), with a note where it cannot reach alpha or where it overrules the tolerance."""
    if test.p_value is None:
        notes.append("a single value on a side: the tolerance alone decided")
        return True
    alpha = test.alpha
    significant = test.p_value <= alpha * (1 + 1e-9)  # exact p-values are ratios: 0.1 must meet 0.1
    holm_note = f" over {test.family} rows, Holm" if test.family > 1 else ""
    if not can_reach(n_baseline, n_candidate, alpha / test.family):
        smallest = smallest_p_value(n_baseline, n_candidate) * test.family
        notes.append(
            f"{n_baseline} vs {n_candidate} values cannot reach alpha {alpha:g}{holm_note} (smallest "
            f"possible p {min(1.0, smallest):.3g}): never judged changed"
        )
    elif beyond and not significant:
        notes.append(
            f"beyond tolerance but not significant (p {test.p_value:.3g}{holm_note} > alpha {alpha:g})"
        )
    return significant


def _one_side(key: Key, base: dict[Key, Side], cand: dict[Key, Side]) -> RowVerdict:
    """The verdict of a row found on one side only: "missing" from the candidate, or "new" in it."""
    method, dataset, metric, settings = key
    here, other, side = (base, cand, "baseline") if key in base else (cand, base, "candidate")
    values = here[key].values
    note = f"only in the {side}"
    if any(k[:3] == key[:3] for k in other):
        note += f"; the other run has it at other settings (see the settings of {method} that differ)"
    mean = _mean(values)
    return RowVerdict(
        method,
        dataset,
        metric,
        settings_id(settings),
        mean if side == "baseline" else None,
        mean if side == "candidate" else None,
        None,
        None,
        len(values) if side == "baseline" else 0,
        len(values) if side == "candidate" else 0,
        None,
        "missing" if side == "baseline" else "new",
        note,
    )


def _differing(base: dict[Key, Side], cand: dict[Key, Side]) -> dict[str, tuple[str, ...]]:
    """Per method, every setting that differs where one side's row of a method, dataset and metric
    has other settings than the other side's (each difference once, in the order found)."""
    found: dict[str, dict[str, None]] = {}
    cand_settings: dict[tuple[str, str, str], set[str]] = {}
    for key in cand:
        cand_settings.setdefault(key[:3], set()).add(key[3])
    for key in sorted(base, key=registry_rank):
        for other in sorted(cand_settings.get(key[:3], set()) - {key[3]}):
            if (*key[:3], other) in base or key in cand:
                continue  # each side also has the other's settings: nothing went missing here
            for line in differences(json.loads(key[3]), json.loads(other)):
                found.setdefault(key[0], {})[line] = None
    return {method: tuple(lines) for method, lines in found.items()}


def _why_unmatched(
    base: dict[Key, Side], cand: dict[Key, Side], differing: Mapping[str, tuple[str, ...]]
) -> str:
    """Why no row matched: every setting that differs, per method, else what each side holds."""
    if differing:
        listed = "; ".join(f"{method}: {', '.join(found)}" for method, found in differing.items())
        return f" (method x dataset x metric x settings): settings differ (baseline != candidate), {listed}"

    def holds(side: dict[Key, Side]) -> str:
        return "; ".join(
            f"{what} {', '.join(sorted({key[i] for key in side}))}"
            for i, what in enumerate(("methods", "datasets", "metrics"))
        )

    return f": the baseline has {holds(base)}, the candidate {holds(cand)}"
