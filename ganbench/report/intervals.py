"""Confidence intervals over seeds that stay inside a metric's domain: the percentile bootstrap.

A Student t interval (mean ± t s / sqrt(n)) ignores what values a metric can take: three seeds
covering 0, 0 and 3 modes give mean 1, std 1.73 and, with t(0.975, 2) = 4.30, the interval
[-3.3, 5.3], which claims negative modes. The percentile bootstrap (Efron and Tibshirani 1993,
ch. 13) resamples the seeds with replacement, takes each resample's mean, and reports the 2.5th and
97.5th percentiles of those means. Every resampled mean lies between the smallest and the largest
seed, so the interval never leaves the range of the values, and hence never the metric's domain
(it is also clipped to the declared domain, in case a plugin's values do not respect it).
Worked by hand, as the tests check:
- n = 2, values a < b: a resample is (a, a), (a, b), (b, a) or (b, b), so its mean is a with
  probability 1/4, (a + b) / 2 with 1/2 and b with 1/4; both 2.5% tails fall on a and on b: [a, b].
- n = 3, values 0, 0, 3: a resample's mean is k, the number of times 3 was drawn, k ~ Binomial(3, 1/3):
  P(k = 0) = 8/27 > 0.025 and P(k = 3) = 1/27 > 0.025, so the interval is [0, 3].
With few seeds it is narrow (it cannot be wider than the values' range), so tables state n beside it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 10_000
# The resampling is seeded: a report rebuilt from the same records gives the same intervals.
SEED = 0
METHOD = f"{CONFIDENCE:.0%} percentile bootstrap over seeds ({RESAMPLES:,} resamples)"

Domain = tuple[float | None, float | None]


def bootstrap_interval(
    values: Sequence[float] | np.ndarray, domain: Domain = (None, None), confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """The percentile-bootstrap interval for the mean of `values`, inside `domain` (low, high).

    Undefined (NaN, NaN) for fewer than 2 values: one seed says nothing about the spread.
    """
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if len(data) < 2:
        return math.nan, math.nan
    if np.all(data == data[0]):  # no spread: every resample has the same mean
        low = high = float(data[0])
    else:
        from scipy.stats import bootstrap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns about few distinct values; the method is stated
            result = bootstrap(
                (data,),
                np.mean,
                confidence_level=confidence,
                n_resamples=RESAMPLES,
                method="percentile",
                random_state=np.random.default_rng(SEED),
                vectorized=True,
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return clip(low, domain), clip(high, domain)


def clip(value: float, domain: Domain) -> float:
    """`value` moved into `domain` (a bound of None is no bound)."""
    low, high = domain
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value
