"""What a comparison answers: each row's judgement, the flagged seeds, counts, summary and exit code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from ganbench.report.compare.criteria import Judging
from ganbench.report.compare.significance import can_reach

# In the order a report lists them: what fails the build first.
Judgement = Literal["regressed", "missing", "improved", "new", "unchanged"]
JUDGEMENTS: tuple[Judgement, ...] = get_args(Judgement)

# Exit codes: 0 nothing regressed or went missing, 1 something did (2, unusable input, is a GanbenchError).
EXIT_OK = 0
EXIT_REGRESSED = 1


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
class FlaggedSeeds:
    """The convergence flags (docs/pages/results/flags.md) of one method x dataset x settings: per side,
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
            and not can_reach(row.n_baseline, row.n_candidate, self.judging.alpha / self.family)
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
