"""Tests over seeds that reports share: Welch's t from summary statistics and Holm's correction."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input's order.

    Sorted ascending p_(1) <= ... <= p_(m), the adjusted p_(i) is max over j <= i of
    min(1, (m - j + 1) p_(j)): the smallest is multiplied by m, the next by m - 1, and so on, kept
    monotone. Rejecting where adjusted p < alpha controls the family-wise error rate at alpha.
    A NaN p-value (a test that could not be made) is no member of the family: it stays NaN and
    changes no other adjusted value (sorting NaN would depend on the input's order).
    """
    family = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(family)
    order = sorted(family, key=lambda i: p_values[i])
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def welch(
    mean_a: float, se_a: float, n_a: int, mean_b: float, se_b: float, n_b: int
) -> tuple[float, float, float]:
    """Welch's t statistic, its Welch-Satterthwaite degrees of freedom and the two-sided p-value.

    From summary statistics (as scipy's `ttest_ind_from_stats` with unequal variances). Two spreads of
    zero leave no noise to test against: equal means give p = 1, different means p = 0. Where the test
    cannot be computed (a mean or standard error not finite, a difference of means that overflows,
    fewer than 2 values on a side), all three are NaN: the caller reports the test as not made.
    """
    # Python floats: their arithmetic overflows to inf quietly (numpy's would warn on a 1e308).
    mean_a, se_a, mean_b, se_b = float(mean_a), float(se_a), float(mean_b), float(se_b)
    finite = all(math.isfinite(v) for v in (mean_a, se_a, mean_b, se_b, mean_a - mean_b))
    if not finite or min(n_a, n_b) < 2:
        return math.nan, math.nan, math.nan
    if se_a == 0 and se_b == 0:
        if mean_a == mean_b:
            return 0.0, math.nan, 1.0
        return math.copysign(math.inf, mean_a - mean_b), math.nan, 0.0
    from scipy.stats import t as student

    # In units of the larger standard error, so that no square overflows or underflows float64:
    # t and the degrees of freedom do not depend on the unit.
    unit = max(se_a, se_b)
    va, vb = (se_a / unit) ** 2, (se_b / unit) ** 2
    t = (mean_a - mean_b) / unit / math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va**2 / (n_a - 1) if va else 0.0) + (vb**2 / (n_b - 1) if vb else 0.0))
    return t, df, min(1.0, 2 * float(student.sf(abs(t), df)))


@dataclass(frozen=True)
class Contrast:
    """One pairwise test in a table: rows `a` and `b` of one column, their means, the test's two-sided
    p-value and, once `significant_contrasts` has corrected the family, Holm's adjusted p-value."""

    column: str  # the column as the table names it ("Ring-8 W1 ↓")
    a: str  # the rows as the table names them
    b: str
    mean_a: float
    mean_b: float
    p: float
    p_holm: float = math.nan


def significant_contrasts(contrasts: Sequence[Contrast], alpha: float = 0.05) -> list[Contrast]:
    """The contrasts whose Holm-adjusted p-value (`holm` over all of `contrasts`: one family) is below
    `alpha`, in the input's order, each with its `p_holm` set."""
    adjusted = holm([c.p for c in contrasts])
    return [dataclasses.replace(c, p_holm=p) for c, p in zip(contrasts, adjusted, strict=True) if p < alpha]
