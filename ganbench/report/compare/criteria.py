"""How a comparison judges its rows: tolerances, test level, correction, missing rows, --fail-if rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ganbench.errors import GanbenchError
from ganbench.report.compare.significance import DEFAULT_ALPHA

# How p-values are corrected for judging many rows at once (`compare`'s docstring).
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
class Judging:
    """How a comparison judges its rows (`compare`'s docstring); checked when made.

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
