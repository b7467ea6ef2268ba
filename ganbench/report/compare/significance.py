"""The two-sided Mann-Whitney U test of a row's two samples, and the smallest p its sizes can reach."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# alpha defaults to 0.1, not 0.05: the smallest two-sided exact p of n vs m values is
# 2 / C(n + m, n), reached only when every candidate value is beyond every baseline value. It is 0.1
# at 3 vs 3 seeds (the mode-collapse suite's), so at alpha 0.05 a 3-seed row could never be judged
# changed; at 0.1 it can, and as only regressions fail the build, a row that did not change fails it
# by chance with probability at most 0.05 (one side of the two-sided test; per row, before the
# tolerance). A row whose sizes cannot reach alpha (2 vs 2 at 0.1, 3 vs 3 at 0.05; 4 vs 4 reaches
# 0.029) is "unchanged" whatever its values: the verdict says so in the row's note and in a warning
# line, never silently. A smaller alpha thus only ever asks for more evidence.
DEFAULT_ALPHA = 0.1
# Up to this many values a side the test is exact (scipy's own threshold for method="auto").
EXACT_MAX_N = 8


def smallest_p_value(n_baseline: int, n_candidate: int) -> float:
    """The smallest two-sided exact Mann-Whitney p for these sample sizes: 2 / C(n1 + n2, n1).

    Reached when every value of one side is beyond every value of the other (3 vs 3: 0.1).
    """
    return min(1.0, 2 / math.comb(n_baseline + n_candidate, n_baseline))


def can_reach(n_baseline: int, n_candidate: int, alpha: float) -> bool:
    """Whether any outcome of the test at these sample sizes (2 or more a side) can reach alpha."""
    exact = max(n_baseline, n_candidate) <= EXACT_MAX_N
    return not exact or smallest_p_value(n_baseline, n_candidate) <= alpha * (1 + 1e-9)


def mann_whitney_p(baseline: np.ndarray, candidate: np.ndarray) -> float:
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
