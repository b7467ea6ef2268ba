"""Intervals over seeds stay inside each metric's domain: the percentile bootstrap, worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from scipy.stats import t

from ganbench.data import DATASETS
from ganbench.metrics import METRICS
from ganbench.models import METHODS
from ganbench.report import build_report
from ganbench.report.intervals import bootstrap_interval, clip
from ganbench.report.tables import summarize


def test_two_seeds_give_their_own_range() -> None:
    # n = 2, values a < b: resampled means a, (a+b)/2, b with probabilities 1/4, 1/2, 1/4, so both
    # 2.5% tails fall on the values themselves: [a, b].
    assert bootstrap_interval([0.2, 0.6]) == pytest.approx((0.2, 0.6))


def test_three_seeds_zero_zero_three_give_zero_to_three() -> None:
    # The mean of a resample is k, the number of 3s drawn, k ~ Binomial(3, 1/3): P(k = 0) = 8/27 and
    # P(k = 3) = 1/27 both exceed 2.5%, so the interval is [0, 3]. Student t would give
    # 1 ± 4.303 * 1.732 / sqrt(3) = [-3.30, 5.30]: negative modes.
    assert bootstrap_interval([0.0, 0.0, 3.0]) == (0.0, 3.0)


def test_ten_seeds_give_an_interval_around_the_mean_inside_the_values() -> None:
    values = np.array([0.91, 0.95, 0.97, 0.99, 1.0, 1.0, 0.93, 0.96, 0.98, 1.0])
    low, high = bootstrap_interval(values, (0.0, 1.0))
    assert values.min() <= low < values.mean() < high <= 1.0
    # The half width is about 1.96 standard errors (the bootstrap distribution of a mean of 10 is
    # nearly normal): 0.00952 here, so the interval spans about 0.037.
    se = values.std(ddof=0) / math.sqrt(len(values))
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert bootstrap_interval(values, (0.0, 1.0)) == (low, high), (
        "seeded: the same records, the same interval"
    )


def test_one_seed_has_no_interval_and_equal_seeds_a_point() -> None:
    assert all(math.isnan(v) for v in bootstrap_interval([5.0]))
    assert all(math.isnan(v) for v in bootstrap_interval([]))
    assert bootstrap_interval([5.0, 5.0, 5.0]) == (5.0, 5.0)


def test_values_outside_a_declared_domain_are_clipped_into_it() -> None:
    assert clip(-0.5, (0.0, None)) == 0.0 and clip(1.5, (0.0, 1.0)) == 1.0 and clip(3.0, (None, None)) == 3.0
    assert bootstrap_interval([-1.0, -1.0, 2.0], (0.0, None))[0] == 0.0


def _records(metric: str, values: list[float], unit: str = "") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": [f"gan__ring-8__seed{i}" for i in range(len(values))],
            "method": "gan",
            "dataset": "ring-8",
            "seed": range(len(values)),
            "metric": metric,
            "value": values,
            "unit": unit,
            "higher_is_better": METRICS.get(metric).higher_is_better,
            "status": "ok",
            "flags": "",
        }
    )


@pytest.mark.parametrize(
    ("metric", "values", "domain"),
    [
        # Student t would reach below 0 (or above the bound) for each of these.
        ("modes-covered", [0.0, 8.0], (0.0, 8.0)),
        ("modes-covered", [0.0, 0.0, 3.0], (0.0, 8.0)),
        ("modes-covered", [8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 2.0], (0.0, 8.0)),
        ("high-quality-fraction", [0.01, 0.99], (0.0, 1.0)),
        ("high-quality-fraction", [0.0, 0.02, 0.9], (0.0, 1.0)),
        ("high-quality-fraction", [1.0] * 9 + [0.1], (0.0, 1.0)),
        ("reverse-kl", [0.001, 0.5], (0.0, None)),
        ("reverse-kl", [0.0, 0.0, 1.2], (0.0, None)),
        ("w1", [0.02, 0.03, 0.02, 0.05, 0.9, 0.02, 0.03, 0.02, 0.04, 0.02], (0.0, None)),
    ],
)
def test_summary_intervals_stay_inside_the_metric_domain(metric: str, values: list[float], domain) -> None:
    row = summarize(_records(metric, values), None, lambda m, d: domain).iloc[0]
    low, high = domain
    assert (low is None or row.ci_low >= low) and (high is None or row.ci_high <= high)
    assert min(values) <= row.ci_low <= row["mean"] <= row.ci_high <= max(values)
    half = t.ppf(0.975, len(values) - 1) * row["std"] / math.sqrt(len(values))
    outside = row["mean"] - half < low or (high is not None and row["mean"] + half > high)
    assert outside, "each case is one where a Student t interval leaves the domain"


def test_modes_covered_is_bounded_by_the_dataset_modes_in_a_report(tmp_path) -> None:
    # The committed golden run is ring-8 (8 centers stored with each record).
    report = build_report([ROOT / "tests" / "data" / "golden" / "run"], tmp_path)
    modes = report.summary[report.summary.metric == "modes-covered"]
    assert ((modes.ci_low >= 0) & (modes.ci_high <= 8)).all()
    gan = modes[modes.method == "gan"].iloc[0]  # seeds 8, 7, 6
    assert 6 <= gan.ci_low < 7 < gan.ci_high <= 8


def test_every_registered_name_has_a_display_name_and_a_sound_domain() -> None:
    for registry in (METHODS, METRICS, DATASETS):
        for name in registry.names():
            assert registry.get(name).display_name, f"{name} has no display name"
    for name in METRICS.names():
        low, high = METRICS.get(name).domain
        assert low is None or high is None or low < high, name
    families = {name: METHODS.get(name).objective.family for name in METHODS.names()}
    assert (
        families["gan"] == families["gan-ns"] == families["dcgan"] != families["wgan"] == families["wgan-gp"]
    )
