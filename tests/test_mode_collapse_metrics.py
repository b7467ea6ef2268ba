"""Mode-collapse metrics against hand-computed answers (docs/pages/methods/mode-collapse.md).

A sample is high quality when within 3 std of its nearest center; a mode is covered when at least
one high-quality sample has it as nearest center; reverse KL = sum_k p_k log(K p_k) of the
nearest-center histogram of all samples, natural log, 0 log 0 = 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganbench.data import DATASETS
from ganbench.data.mixtures import GaussianMixture
from ganbench.metrics import METRICS, EvalContext
from ganbench.metrics.mode_collapse import (
    HIGH_QUALITY_FRACTION,
    MODES_COVERED,
    REVERSE_KL,
    high_quality_fraction,
    modes_covered,
    reverse_kl,
)


def build(name: str) -> GaussianMixture:
    spec = DATASETS.get(name)
    dataset = spec.build(spec.params())
    assert isinstance(dataset, GaussianMixture)
    return dataset


@pytest.fixture(scope="module")
def ring() -> GaussianMixture:
    return build("ring-8")


@pytest.fixture(scope="module")
def grid() -> GaussianMixture:
    return build("grid-25")


def on_centers(mixture: GaussianMixture, counts: dict[int, int]) -> np.ndarray:
    """counts[k] samples placed exactly on center k."""
    centers = mixture.centers.numpy()
    return np.concatenate([np.repeat(centers[k : k + 1], c, axis=0) for k, c in counts.items()])


def test_three_of_eight_modes_equal_counts(ring: GaussianMixture) -> None:
    samples = on_centers(ring, {0: 10, 3: 10, 5: 10})
    assert modes_covered(samples, ring) == 3
    assert high_quality_fraction(samples, ring) == 1.0
    # p = 1/3 on 3 modes, 0 elsewhere: KL = 3 * (1/3) log(8 * 1/3) = log(8/3) = 0.98083...
    assert reverse_kl(samples, ring) == pytest.approx(math.log(8 / 3), abs=1e-12)


def test_unequal_histogram_kl(ring: GaussianMixture) -> None:
    samples = on_centers(ring, {1: 30, 6: 10})
    # p = (3/4, 1/4) on 2 of 8 modes:
    # KL = 3/4 log(8 * 3/4) + 1/4 log(8 * 1/4) = 3/4 log 6 + 1/4 log 2 = 1.51712...
    expected = 0.75 * math.log(6) + 0.25 * math.log(2)
    assert reverse_kl(samples, ring) == pytest.approx(expected, abs=1e-12)
    assert modes_covered(samples, ring) == 2
    assert high_quality_fraction(samples, ring) == 1.0


def test_samples_far_from_every_center(ring: GaussianMixture, grid: GaussianMixture) -> None:
    samples = np.full((50, 2), 10.0)
    for mixture in (ring, grid):
        assert high_quality_fraction(samples, mixture) == 0.0
        assert modes_covered(samples, mixture) == 0
    # All 50 samples still land in one histogram bin (the nearest center), so KL = log K:
    # p = 1 on one mode, KL = 1 * log(K * 1).
    assert reverse_kl(samples, ring) == pytest.approx(math.log(8), abs=1e-12)


@pytest.mark.parametrize(("stds", "is_good"), [(2.9, True), (3.1, False)])
def test_three_std_boundary(ring: GaussianMixture, stds: float, is_good: bool) -> None:
    # Center 2 of ring-8 is at angle pi/2, i.e. (0, 1); step outward along the radius by
    # `stds` standard deviations (0.029 or 0.031, far less than the 0.765 to the next center).
    center = ring.centers.numpy()[2]
    np.testing.assert_allclose(center, [0.0, 1.0], atol=1e-15)
    sample = (center * (1 + stds * ring.std))[None, :]
    assert high_quality_fraction(sample, ring) == (1.0 if is_good else 0.0)
    assert modes_covered(sample, ring) == (1 if is_good else 0)


def test_low_quality_nearest_sample_does_not_cover_its_mode(ring: GaussianMixture) -> None:
    centers = ring.centers.numpy()
    good = centers[0]  # exactly on mode 0
    # Nearest center is mode 4 at (-1, 0), but it is 5 std (0.05) away: not high quality.
    bad = centers[4] + np.array([-5 * ring.std, 0.0])
    samples = np.stack([good, bad])
    assert modes_covered(samples, ring) == 1
    assert high_quality_fraction(samples, ring) == 0.5
    # The histogram of nearest centers counts every sample, quality or not:
    # p = (1/2, 1/2) on modes 0 and 4, KL = 2 * 1/2 log(8/2) = log 4.
    assert reverse_kl(samples, ring) == pytest.approx(math.log(4), abs=1e-12)


def test_grid_one_mode_and_uniform(grid: GaussianMixture) -> None:
    one = on_centers(grid, {12: 100})
    # p = 1 on one mode: KL = log(25 * 1) = log 25.
    assert reverse_kl(one, grid) == pytest.approx(math.log(25), abs=1e-12)
    assert modes_covered(one, grid) == 1

    uniform = on_centers(grid, dict.fromkeys(range(25), 4))
    # p = 1/25 everywhere: every term is (1/25) log(25/25) = 0.
    assert reverse_kl(uniform, grid) == pytest.approx(0.0, abs=1e-12)
    assert modes_covered(uniform, grid) == 25
    assert high_quality_fraction(uniform, grid) == 1.0


@pytest.mark.parametrize(("name", "k"), [("ring-8", 8), ("grid-25", 25)])
def test_oracle_true_samples(name: str, k: int) -> None:
    mixture = build(name)
    n = 2500
    samples = mixture.sample(n, torch.Generator().manual_seed(2024)).to(torch.float64).numpy()
    assert modes_covered(samples, mixture) == k
    # For a 2-D isotropic Gaussian |x|/sigma is Rayleigh: P(|x| < 3 sigma) = 1 - exp(-9/2) = 0.98889.
    # The fraction's sampling std at n = 2500 is sqrt(0.011 * 0.989 / 2500) ~ 0.002; 0.01 is 5 of them.
    assert high_quality_fraction(samples, mixture) == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    # Expected KL of a multinomial histogram vs the uniform truth is about (K-1)/(2n):
    # 7/5000 = 0.0014 for ring-8, 24/5000 = 0.0048 for grid-25.
    kl = reverse_kl(samples, mixture)
    assert 0.0 <= kl < 0.02


@pytest.mark.parametrize(
    ("metric", "function", "higher_is_better"),
    [
        (MODES_COVERED, modes_covered, True),
        (HIGH_QUALITY_FRACTION, high_quality_fraction, True),
        (REVERSE_KL, reverse_kl, False),
    ],
)
def test_registered_metrics_match_functions(metric: str, function, higher_is_better: bool) -> None:
    mixture = build("ring-8")
    # A partly collapsed, partly off-mode sample set so the three metrics are all non-trivial.
    rng = np.random.default_rng(0)
    samples = np.concatenate(
        [
            on_centers(mixture, {0: 40, 1: 20, 2: 10}),
            mixture.centers.numpy()[[3]] + rng.normal(scale=0.05, size=(30, 2)),
        ]
    )
    ctx = EvalContext(samples=samples, dataset=mixture, seed=0)
    registered = METRICS.get(metric)
    assert registered.name == metric
    assert registered.higher_is_better is higher_is_better
    assert registered.modality == "points"
    result = registered.compute(ctx)
    assert result.value == pytest.approx(float(function(samples, mixture)), abs=1e-15)
    assert result.exact is True


def test_directions_of_all_point_metrics() -> None:
    assert METRICS.get("modes-covered").higher_is_better is True
    assert METRICS.get("high-quality-fraction").higher_is_better is True
    assert METRICS.get("reverse-kl").higher_is_better is False
    assert METRICS.get("w1").higher_is_better is False
