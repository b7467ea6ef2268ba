"""Compare a candidate run with a baseline, row by row, and judge every change against noise.

The rule (`ganbench compare BASELINE CANDIDATE`, README "Compare runs in CI"):

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

alpha defaults to 0.1, not 0.05: the smallest two-sided exact p of n vs m values is
2 / C(n + m, n), reached only when every candidate value is beyond every baseline value. It is 0.1
at 3 vs 3 seeds (the mode-collapse suite's), so at alpha 0.05 a 3-seed row could never be judged
changed; at 0.1 it can, and as only regressions fail the build, a row that did not change fails it
by chance with probability at most 0.05 (one side of the two-sided test; per row, before the
tolerance). A row whose sizes cannot reach alpha (2 vs 2 at 0.1, 3 vs 3 at 0.05; 4 vs 4 reaches
0.029) is "unchanged" whatever its values: the verdict says so in the row's note and in a warning
line, never silently. A smaller alpha thus only ever asks for more evidence.

Exit codes: 0 nothing regressed or went missing, 1 something did, 2 unusable input (a GanbenchError).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from ganbench.data import DATASETS
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS
from ganbench.metrics.base import NOT_APPLICABLE
from ganbench.metrics.validity import FLAGS
from ganbench.models import METHODS
from ganbench.records.record import Record
from ganbench.records.store import RunStore, differences
from ganbench.registry import suggest
from ganbench.report.records import records_frame
from ganbench.report.stats import holm

# In the order a report lists them: what fails the build first.
Judgement = Literal["regressed", "missing", "improved", "new", "unchanged"]
JUDGEMENTS: tuple[Judgement, ...] = get_args(Judgement)

# The columns of records.csv (report.records.COLUMNS) that a comparison reads.
REQUIRED_COLUMNS = ("method", "dataset", "metric", "value", "status", "config")
# Config keys that do not define what a value measures: the seed varies within a row, the list of
# metrics a suite evaluates changes none of their values (adding one must not unmatch the rest), and
# the random-stream scheme changes which draws a seed makes, not the protocol (a baseline from before
# a scheme change is a sample of the same distribution over seeds).
UNMATCHED_CONFIG_KEYS = ("seed", "metrics", "streams")
# The smallest two-sided exact Mann-Whitney p at 3 vs 3 seeds is 2 / C(6, 3) = 0.1 (module docstring).
DEFAULT_ALPHA = 0.1
# Up to this many values a side the test is exact (scipy's own threshold for method="auto").
EXACT_MAX_N = 8
EXIT_OK = 0
EXIT_REGRESSED = 1
# How p-values are corrected for judging many rows at once (module docstring).
CORRECTIONS = ("none", "holm")
# `--fail-if metric:+10%`: a metric, the sign of the change that fails, a percentage.
FAIL_IF = re.compile(r"(?P<metric>[^:\s]+):(?P<sign>[+-])(?P<percent>[0-9]+(?:\.[0-9]*)?)%")


@dataclass(frozen=True)
class Threshold:
    """A `--fail-if` rule: a relative change of the mean beyond `fraction` in the `sign` direction
    (+1: an increase, -1: a decrease) is a regression."""

    sign: int
    fraction: float

    def __str__(self) -> str:
        return f"{'+' if self.sign > 0 else '-'}{self.fraction:.0%}"


def parse_fail_if(rules: list[str]) -> dict[str, Threshold]:
    """{'w1': Threshold(+1, 0.10)} from ['w1:+10%']; a malformed rule or a metric named twice is an error."""
    thresholds: dict[str, Threshold] = {}
    for rule in rules:
        match = FAIL_IF.fullmatch(rule.strip())
        if match is None:
            raise GanbenchError(
                f"--fail-if: '{rule}' is not METRIC:+N% or METRIC:-N% (for example w1:+10% or "
                "train-img-per-s:-5%)"
            )
        if match["metric"] in thresholds:
            raise GanbenchError(f"--fail-if: metric '{match['metric']}' is given twice")
        sign = 1 if match["sign"] == "+" else -1
        thresholds[match["metric"]] = Threshold(sign, float(match["percent"]) / 100)
    return thresholds


@dataclass(frozen=True)
class RowVerdict:
    """The judgement of one method x dataset x metric x settings row.

    `change` is candidate mean - baseline mean and `rel_change` that over |baseline mean| (None
    when the baseline mean is 0); means and changes are None where a side has no value. `p_value`
    is None where a side has a single value (the tolerance alone decided).
    """

    method: str
    dataset: str
    metric: str
    settings_id: str  # first 8 hex digits of the SHA-256 of the settings (config without seed) JSON
    baseline_mean: float | None
    candidate_mean: float | None
    change: float | None
    rel_change: float | None
    n_baseline: int
    n_candidate: int
    p_value: float | None
    verdict: Judgement
    note: str = ""


@dataclass(frozen=True)
class Judging:
    """How a comparison judges its rows (module docstring); checked when made.

    rel_tol, abs_tol: tolerances for every metric (None: each metric's registered one); alpha: level
    of the two-sided Mann-Whitney U test (p <= alpha counts); correction: "none", or "holm" over
    every tested row; allow_missing: let rows the candidate lacks (or has at other settings only)
    pass; fail_if: per metric, a relative threshold and the failing direction (`parse_fail_if`), in
    place of the metric's tolerances and direction.
    """

    rel_tol: float | None = None
    abs_tol: float | None = None
    alpha: float = DEFAULT_ALPHA
    correction: str = "none"
    allow_missing: bool = False
    fail_if: Mapping[str, Threshold] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, tol in (("rel_tol", self.rel_tol), ("abs_tol", self.abs_tol)):
            if tol is not None and not tol >= 0:
                raise GanbenchError(f"{name} must be >= 0, got {tol!r}")
        if not 0 < self.alpha <= 1:
            raise GanbenchError(f"alpha must be in (0, 1], got {self.alpha!r}")
        if self.correction not in CORRECTIONS:
            valid = ", ".join(CORRECTIONS)
            raise GanbenchError(f"correction must be one of {valid}, got {self.correction!r}")


@dataclass(frozen=True)
class FlaggedSeeds:
    """The convergence flags (README "Convergence flags") of one method x dataset x settings: per side,
    how many of its jobs finished ok with a value, and per flag the jobs that carry it.

    Flags belong to jobs, not to metrics: kept once per method x dataset x settings, not per row.
    """

    method: str
    dataset: str
    settings_id: str
    n_baseline: int
    n_candidate: int
    baseline: Mapping[str, tuple[str, ...]]  # flag -> job keys, in FLAGS order
    candidate: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Verdict:
    """Every row's judgement, in registry order, and how they were judged."""

    rows: tuple[RowVerdict, ...]
    judging: Judging = field(default_factory=Judging)
    # Per method, every setting that differs between the baseline's rows and the candidate's
    # ('train.steps: 100 != 200'), in the order first found.
    differing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Every method x dataset x settings with a flagged job on either side, in registry order.
    flagged: tuple[FlaggedSeeds, ...] = ()

    @property
    def family(self) -> int:
        """How many rows' p-values the correction adjusted together (1 without one): every row tested."""
        tested = sum(row.p_value is not None for row in self.rows)
        return tested if self.judging.correction == "holm" and tested else 1

    @property
    def counts(self) -> dict[Judgement, int]:
        """How many rows got each judgement, every judgement present (0 when none)."""
        return {kind: sum(row.verdict == kind for row in self.rows) for kind in JUDGEMENTS}

    @property
    def regressed(self) -> tuple[RowVerdict, ...]:
        """The rows that got worse beyond noise (empty, hence falsy, when none did)."""
        return tuple(row for row in self.rows if row.verdict == "regressed")

    @property
    def failing(self) -> tuple[RowVerdict, ...]:
        """The rows that fail the build: regressed ones, and missing ones unless they are allowed."""
        allowed = self.judging.allow_missing
        failing: tuple[Judgement, ...] = ("regressed",) if allowed else ("regressed", "missing")
        return tuple(row for row in self.rows if row.verdict in failing)

    @property
    def untestable(self) -> tuple[RowVerdict, ...]:
        """Rows with 2 or more values a side whose sample sizes cannot reach alpha at all."""
        return tuple(
            row
            for row in self.rows
            if min(row.n_baseline, row.n_candidate) >= 2
            and not _can_reach(row.n_baseline, row.n_candidate, self.judging.alpha / self.family)
        )

    @property
    def exit_code(self) -> int:
        """0 when no row fails the build (`failing`), 1 when one does."""
        return EXIT_REGRESSED if self.failing else EXIT_OK

    @property
    def summary(self) -> str:
        """'FAIL: 1 regressed, 2 missing, 0 improved, 21 unchanged' (', 3 new' when there are new rows)."""
        counts = self.counts
        kinds = [kind for kind in JUDGEMENTS if kind != "new" or counts["new"]]
        allowed = " (allowed)" if self.judging.allow_missing and counts["missing"] else ""
        text = ", ".join(f"{counts[kind]} {kind}{allowed if kind == 'missing' else ''}" for kind in kinds)
        return f"{'FAIL' if self.failing else 'PASS'}: {text}"


def load_rows(path: Path | str) -> pd.DataFrame:
    """Records of a run folder (its jobs/*.json) or of a records.csv file, one row per job x metric.

    Raises:
        GanbenchError: the path is absent or unreadable, holds no job records, or the file lacks
            the columns of records.csv.
    """
    path = Path(path)
    if path.is_dir():
        store = RunStore(path)
        records = store.records()
        store.plan()  # unused here, but a damaged folder is unusable input whichever file is damaged
        if not records:
            raise GanbenchError(f"no job records in {path} (a run folder holds jobs/*.json)")
        return _with_repeats(records_frame(records), records)
    if not path.is_file():
        raise GanbenchError(f"not found: {path} (give a run folder or a records.csv file)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GanbenchError(f"unreadable records file {path}: {message}") from None
    _check_columns(frame, str(path))
    if frame.empty:
        raise GanbenchError(f"no job records in {path} (the file has no rows)")
    return frame


def _with_repeats(frame: pd.DataFrame, records: list[Record]) -> pd.DataFrame:
    """One row per repeat where a record keeps them (`values`: the throughput suite's timed
    blocks), so that the significance test sees every repeat, not only their median."""
    repeats = {
        (record.key, name): result.values
        for record in records
        for name, result in record.metrics.items()
        if len(result.values) > 1
    }
    if not repeats:
        return frame
    frame = frame.assign(
        value=[repeats.get((k, m), v) for k, m, v in zip(frame.key, frame.metric, frame.value, strict=True)]
    )
    frame = frame.explode("value", ignore_index=True)
    return frame.assign(value=frame["value"].astype(float))


def compare_runs(baseline: Path | str, candidate: Path | str, judging: Judging | None = None) -> Verdict:
    """`compare` over two run folders or records.csv files."""
    return compare(load_rows(baseline), load_rows(candidate), judging)


def compare(baseline: pd.DataFrame, candidate: pd.DataFrame, judging: Judging | None = None) -> Verdict:
    """Judge every row of `candidate` against `baseline` by the rule of this module's docstring.

    Args:
        baseline: records (as `load_rows` returns them) of the reference run.
        candidate: records of the run under test.
        judging: tolerances, test, correction and the rest (`Judging`; default: each metric's own).

    Raises:
        GanbenchError: malformed records, an unknown metric, a `fail_if` metric
            that neither side has, or no rows in common.
    """
    judging = judging or Judging()
    base, cand = _sides(baseline, "baseline"), _sides(candidate, "candidate")
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
        key: _mann_whitney_p(base[key].values, cand[key].values)
        for key in base.keys() & cand.keys()
        if min(len(base[key].values), len(cand[key].values)) >= 2
    }
    family = len(p_values) if judging.correction == "holm" and p_values else 1
    if family > 1:
        p_values = dict(zip(p_values, holm(list(p_values.values())), strict=True))
    rows = []
    for key in sorted(base.keys() | cand.keys(), key=_registry_rank):
        if key in base and key in cand:
            test = _Test(p_values.get(key), judging.alpha, family)
            rows.append(_judge(key, base[key], cand[key], judging, test))
        else:
            rows.append(_one_side(key, base, cand))
    return Verdict(tuple(rows), judging, differing, _flagged_seeds(base, cand))


def smallest_p_value(n_baseline: int, n_candidate: int) -> float:
    """The smallest two-sided exact Mann-Whitney p for these sample sizes: 2 / C(n1 + n2, n1).

    Reached when every value of one side is beyond every value of the other (3 vs 3: 0.1).
    """
    return min(1.0, 2 / math.comb(n_baseline + n_candidate, n_baseline))


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


# --- rows and their two sides ---

_Key = tuple[str, str, str, str]  # method, dataset, metric, settings JSON
_Group = tuple[str, str, str]  # method, dataset, settings JSON: the jobs whose flags go together


@dataclass(frozen=True)
class _Rule:
    """How a row's metric is judged: its direction and noise tolerances, as the records stored them."""

    higher_is_better: bool
    rel_tol: float
    abs_tol: float


@dataclass(frozen=True)
class _Side:
    """One side of a row: the values of its ok jobs, a word on each job that gave none, its rule."""

    values: np.ndarray
    not_ok: tuple[str, ...]
    rule: _Rule
    jobs: tuple[str, ...] = ()  # the ok jobs that gave a value (a job with repeats once)
    flagged: tuple[tuple[str, str], ...] = ()  # (job, flag) per convergence flag of an ok job
    # Why ok jobs have no value where the metric cannot be computed for them (WGAN-GP's FLOPs).
    not_applicable: tuple[str, ...] = ()


def _rule(row: Any, where: str) -> _Rule:
    """The row's stored direction and tolerances; a records.csv of before schema 3 lacks the
    tolerances (and may lack the direction), which then come from the metric registry."""
    stored = [getattr(row, name, None) for name in ("higher_is_better", "rel_tol", "abs_tol")]
    if all(value is not None and not pd.isna(value) for value in stored):
        higher = str(stored[0]).lower()
        try:
            rel_tol, abs_tol = float(stored[1]), float(stored[2])
        except ValueError:
            rel_tol = abs_tol = math.nan
        if higher not in ("true", "false") or not (rel_tol >= 0 and abs_tol >= 0):
            raise GanbenchError(
                f"incompatible schema: the {where} give {row.metric} a direction {stored[0]!r}, "
                f"rel_tol {stored[1]!r}, abs_tol {stored[2]!r} (expected true or false, and numbers >= 0)"
            )
        return _Rule(higher == "true", rel_tol, abs_tol)
    metric = METRICS.get(str(row.metric))
    return _Rule(metric.higher_is_better, metric.rel_tol, metric.abs_tol)


def _check_columns(frame: pd.DataFrame, where: str) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise GanbenchError(
            f"incompatible schema: missing columns {', '.join(missing)} in {where} "
            "(expected records.csv as `ganbench run` or `ganbench report` writes it)"
        )


def row_settings(config: Any, where: str) -> str:
    """The job config without the seed (UNMATCHED_CONFIG_KEYS), as canonical JSON."""
    try:
        parsed = json.loads(config) if isinstance(config, str) else None
    except (json.JSONDecodeError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        raise GanbenchError(
            f"incompatible schema: the config column of the {where} is not a job config (JSON)"
        )
    return json.dumps({k: v for k, v in parsed.items() if k not in UNMATCHED_CONFIG_KEYS}, sort_keys=True)


def _sides(frame: pd.DataFrame, where: str) -> dict[_Key, _Side]:
    """Group a records frame by row key; values of ok jobs with a finite value, notes on the rest."""
    _check_columns(frame, f"{where} records")
    try:
        values = pd.to_numeric(frame["value"], errors="raise").to_numpy(np.float64)
    except (ValueError, TypeError):
        raise GanbenchError(
            f"incompatible schema: non-numeric values in the {where}'s value column"
        ) from None
    groups: dict[_Key, tuple[list[float], list[str], list[str], list[tuple[str, str]], list[str]]] = {}
    rules: dict[_Key, _Rule] = {}
    for i, row in enumerate(frame.itertuples(index=False)):
        settings = row_settings(row.config, f"{where} records")
        key = (str(row.method), str(row.dataset), str(row.metric), settings)
        if key not in rules:
            rules[key] = _rule(row, f"{where} records")
        good, bad, jobs, flagged, unavailable = groups.setdefault(key, ([], [], [], [], []))
        job = getattr(row, "key", None) or f"seed {getattr(row, 'seed', '?')}"
        if row.status == "ok" and np.isfinite(values[i]):
            good.append(float(values[i]))
            jobs.append(job)
            flags = getattr(row, "flags", "")  # records.csv files before schema 4 have no flags
            if isinstance(flags, str) and flags:
                flagged += [(job, flag) for flag in flags.split(";")]
        elif row.status == "ok" and str(getattr(row, "note", "")).startswith(NOT_APPLICABLE):
            unavailable.append(str(row.note).removeprefix(NOT_APPLICABLE))
        else:
            bad.append(f"{job} {row.status}" if row.status != "ok" else f"{job} has no value")
    return {
        key: _Side(
            np.asarray(good),
            tuple(bad),
            rules[key],
            tuple(dict.fromkeys(jobs)),
            tuple(dict.fromkeys(flagged)),
            tuple(dict.fromkeys(unavailable)),
        )
        for key, (good, bad, jobs, flagged, unavailable) in groups.items()
    }


def _flagged_seeds(base: dict[_Key, _Side], cand: dict[_Key, _Side]) -> tuple[FlaggedSeeds, ...]:
    """Per method x dataset x settings with a flagged job on either side (in registry order): each
    side's ok jobs and, per flag, its flagged jobs, gathered over the group's rows (its metrics)."""

    def gather(sides: dict[_Key, _Side]) -> tuple[dict[_Group, dict], dict[_Group, dict]]:
        jobs: dict[_Group, dict[str, None]] = {}
        flags: dict[_Group, dict[str, dict[str, None]]] = {}
        for key, side in sides.items():
            group = (key[0], key[1], key[3])
            jobs.setdefault(group, {}).update(dict.fromkeys(side.jobs))
            for job, flag in side.flagged:
                flags.setdefault(group, {}).setdefault(flag, {})[job] = None
        return jobs, flags

    def in_order(flags: dict[str, dict[str, None]]) -> dict[str, tuple[str, ...]]:
        return {flag: tuple(flags[flag]) for flag in sorted(flags, key=_flag_rank)}

    (b_jobs, b_flags), (c_jobs, c_flags) = gather(base), gather(cand)
    groups = sorted(b_flags.keys() | c_flags.keys(), key=lambda g: _registry_rank((g[0], g[1], "", g[2])))
    return tuple(
        FlaggedSeeds(
            method,
            dataset,
            settings_id(settings),
            len(b_jobs.get((method, dataset, settings), {})),
            len(c_jobs.get((method, dataset, settings), {})),
            in_order(b_flags.get((method, dataset, settings), {})),
            in_order(c_flags.get((method, dataset, settings), {})),
        )
        for method, dataset, settings in groups
    )


def _flag_rank(flag: str) -> tuple[int, str]:
    """The FLAGS order (new flags, then older runs' ones); a flag unknown to this version after, by name."""
    return (FLAGS.index(flag), "") if flag in FLAGS else (len(FLAGS), flag)


def settings_id(settings: str) -> str:
    """The short id of a row's settings in reports: the first 8 hex digits of their SHA-256."""
    return hashlib.sha256(settings.encode("utf-8")).hexdigest()[:8]


def _registry_rank(key: _Key) -> tuple[Any, ...]:
    """Methods, datasets and metrics in registry order (unknown names after, by name), then settings."""
    ranks = []
    for registry, name in ((METHODS, key[0]), (DATASETS, key[1]), (METRICS, key[2])):
        names = registry.names()
        ranks.append((names.index(name), "") if name in names else (len(names), name))
    return (*ranks, key[3])


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _judge(
    key: _Key,
    base: _Side,
    cand: _Side,
    judging: Judging,
    test: _Test,
) -> RowVerdict:
    """The verdict of a row present on both sides (`test`: its p-value, computed with the others so
    that a correction can adjust them together)."""
    method, dataset, metric, settings = key
    threshold = judging.fail_if.get(metric)  # the metric's `--fail-if` rule
    spec = base.rule  # the direction and default tolerances stored with the baseline's records
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
        if b_mean is None and c_mean is None and _only_not_applicable(base, cand):
            verdict: Judgement = "unchanged"  # a figure that exists for neither run cannot have changed
            notes.append(
                f"n/a on both sides: {'; '.join(dict.fromkeys(base.not_applicable + cand.not_applicable))}"
            )
        elif b_mean is None and c_mean is None:
            verdict = "missing"
            notes.append("no job finished ok on either side")
        elif c_mean is None:
            verdict = "regressed"
            notes.append("no candidate job finished ok")
        else:
            verdict = "improved"
            notes.append("no baseline job finished ok")
    else:
        change = c_mean - b_mean
        rel_change = change / abs(b_mean) if b_mean != 0 else None
        rt = spec.rel_tol if judging.rel_tol is None else judging.rel_tol
        at = spec.abs_tol if judging.abs_tol is None else judging.abs_tol
        if threshold is not None:  # --fail-if: its own relative bar, no absolute floor
            rt, at = threshold.fraction, 0.0
        bar = max(at, rt * abs(b_mean))
        # A change equal to the tolerance is within it, float rounding of the means aside
        # (0.93 - 0.91 is 0.020000000000000018).
        beyond = abs(change) > bar and not math.isclose(abs(change), bar, rel_tol=1e-9)
        significant = True
        alpha = test.alpha
        if test.p_value is not None:
            p_value = test.p_value
            significant = p_value <= alpha * (1 + 1e-9)  # exact p-values are ratios: 0.1 must meet 0.1
            holm_note = f" over {test.family} rows, Holm" if test.family > 1 else ""
            if not _can_reach(len(b), len(c), alpha / test.family):
                smallest = smallest_p_value(len(b), len(c)) * test.family
                notes.append(
                    f"{len(b)} vs {len(c)} values cannot reach alpha {alpha:g}{holm_note} (smallest "
                    f"possible p {min(1.0, smallest):.3g}): never judged changed"
                )
            elif beyond and not significant:
                notes.append(
                    f"beyond tolerance but not significant (p {p_value:.3g}{holm_note} > alpha {alpha:g})"
                )
        else:
            notes.append("a single value on a side: the tolerance alone decided")
        # Better is the metric's direction, or under --fail-if the direction opposite the failing one.
        higher_is_better = spec.higher_is_better if threshold is None else threshold.sign < 0
        if beyond and significant:
            verdict = "improved" if (change > 0) == higher_is_better else "regressed"
        else:
            verdict = "unchanged"
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


def _only_not_applicable(*sides: _Side) -> bool:
    """Whether every job of every side finished ok with the metric marked not computable for it."""
    return all(side.not_applicable and not side.not_ok for side in sides)


@dataclass(frozen=True)
class _Test:
    """A row's significance test: its p-value (None: a side has a single value; Holm-adjusted when
    `family` > 1), the level and how many rows' p-values were adjusted together."""

    p_value: float | None
    alpha: float
    family: int = 1


def _can_reach(n_baseline: int, n_candidate: int, alpha: float) -> bool:
    """Whether any outcome of the test at these sample sizes (2 or more a side) can reach alpha."""
    exact = max(n_baseline, n_candidate) <= EXACT_MAX_N
    return not exact or smallest_p_value(n_baseline, n_candidate) <= alpha * (1 + 1e-9)


def _mann_whitney_p(baseline: np.ndarray, candidate: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value: exact for small samples (ties enumerated), else asymptotic."""
    from scipy.stats import PermutationMethod, mannwhitneyu

    method: Any = "asymptotic"
    if len(baseline) <= EXACT_MAX_N and len(candidate) <= EXACT_MAX_N:
        pooled = np.concatenate([baseline, candidate])
        # scipy's "exact" assumes no ties (integer metrics such as modes covered tie often); with
        # ties, enumerating every split of the pooled values (at most C(16, 8) = 12,870) is exact.
        method = "exact" if len(np.unique(pooled)) == len(pooled) else PermutationMethod(n_resamples=np.inf)
    p = float(mannwhitneyu(candidate, baseline, alternative="two-sided", method=method).pvalue)
    return 1.0 if math.isnan(p) else p  # asymptotic on all-equal values: no evidence of a change


def _one_side(key: _Key, base: dict[_Key, _Side], cand: dict[_Key, _Side]) -> RowVerdict:
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


def _differing(base: dict[_Key, _Side], cand: dict[_Key, _Side]) -> dict[str, tuple[str, ...]]:
    """Per method, every setting that differs where one side's row of a method, dataset and metric
    has other settings than the other side's (each difference once, in the order found)."""
    found: dict[str, dict[str, None]] = {}
    cand_settings: dict[tuple[str, str, str], set[str]] = {}
    for key in cand:
        cand_settings.setdefault(key[:3], set()).add(key[3])
    for key in sorted(base, key=_registry_rank):
        for other in sorted(cand_settings.get(key[:3], set()) - {key[3]}):
            if (*key[:3], other) in base or key in cand:
                continue  # each side also has the other's settings: nothing went missing here
            for line in differences(json.loads(key[3]), json.loads(other)):
                found.setdefault(key[0], {})[line] = None
    return {method: tuple(lines) for method, lines in found.items()}


def _why_unmatched(
    base: dict[_Key, _Side], cand: dict[_Key, _Side], differing: Mapping[str, tuple[str, ...]]
) -> str:
    """Why no row matched: every setting that differs, per method, else what each side holds."""
    if differing:
        listed = "; ".join(f"{method}: {', '.join(found)}" for method, found in differing.items())
        return f" (method x dataset x metric x settings): settings differ (baseline != candidate), {listed}"

    def holds(side: dict[_Key, _Side]) -> str:
        return "; ".join(
            f"{what} {', '.join(sorted({key[i] for key in side}))}"
            for i, what in enumerate(("methods", "datasets", "metrics"))
        )

    return f": the baseline has {holds(base)}, the candidate {holds(cand)}"


def _mean_cell(mean: float | None, n: int) -> str:
    return "—" if mean is None else f"{mean:.4g} (n={n})"


def _change_cell(row: RowVerdict) -> str:
    if row.change is None:
        return "—"
    relative = "" if row.rel_change is None else f" ({row.rel_change:+.1%})"
    return f"{row.change:+.3g}{relative}"


def _or_own(tol: float | None) -> str:
    return "per metric" if tol is None else f"{tol:g}"
