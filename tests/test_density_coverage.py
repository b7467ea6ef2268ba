"""Density and coverage (Naeem et al. 2020) against hand-computed answers and the authors' prdc."""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ganbench.data import CONTINUOUS, DATASETS, IMAGE_SOURCE, Dataset
from ganbench.data.base import declared
from ganbench.data.mixtures import GaussianMixture
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS, EvalContext, MetricValue
from ganbench.metrics import density_coverage as module
from ganbench.metrics.base import FRACTION, NON_NEGATIVE
from ganbench.metrics.density_coverage import (
    COVERAGE,
    DENSITY,
    NEAREST_K,
    density_coverage,
    density_coverage_metric_value,
    real_radii,
)


def line(*xs: float) -> np.ndarray:
    """Points on the real line as an (n, 1) array."""
    return np.array(xs, dtype=np.float64)[:, None]


# ------------------------------------------------------------------------------------- by hand


def test_tiny_example_by_hand() -> None:
    # real = [0, 1, 3], fake = [0.5], k = 1. NND_1: 0 -> 1 (to 1), 1 -> 1 (to 0), 3 -> 2 (to 1).
    # The fake is 0.5 < 1 from 0 and 0.5 < 1 from 1, but 2.5 >= 2 from 3: inside 2 of the 3 balls.
    # density = 2 / (k M) = 2 / 1 = 2 (above 1: balls overlap); coverage = 2 / 3.
    real, fake = line(0, 1, 3), line(0.5)
    assert real_radii(torch.from_numpy(real), 1).tolist() == [1.0, 1.0, 2.0]
    assert density_coverage(real, fake, 1) == (2.0, 2 / 3)
    # k = 2. NND_2: 0 -> 3 (others at 1, 3), 1 -> 2 (others at 1, 2), 3 -> 3 (others at 2, 3).
    # 0.5 < 3, 0.5 < 2 and 2.5 < 3: inside all 3 balls. density = 3 / (2 * 1) = 1.5; coverage = 1.
    assert density_coverage(real, fake, 2) == (1.5, 1.0)


def test_inequality_is_strict_as_in_prdc() -> None:
    # real = [0, 1, 3], fake = [2], k = 1; radii 1, 1, 2. The fake is 2 from 0 (not < 1), exactly 1
    # from 1 (not < 1: on the sphere is outside) and 1 < 2 from 3: one ball.
    # density = 1 / (1 * 1) = 1; coverage = 1 / 3.
    assert density_coverage(line(0, 1, 3), line(2), 1) == (1.0, 1 / 3)


def test_a_set_against_itself_by_hand() -> None:
    # real = fake = [0, 1, 2, 3, 4]. Every real point covers itself (distance 0 < its radius > 0).
    # k = 1: every radius is 1, and only the point's own copy is closer than 1 (the neighbours sit
    # exactly at 1): 5 pairs, density = 5 / (1 * 5) = 1; coverage = 1.
    points = line(0, 1, 2, 3, 4)
    assert density_coverage(points, points, 1) == (1.0, 1.0)
    # k = 2: radii 2, 1, 1, 1, 2 (0's neighbours at 1, 2; 1's at 1, 1; ...). Inside the balls: 0's
    # holds 0 and 1 (2 is on its sphere), 1's, 2's and 3's only themselves, 4's holds 3 and 4.
    # 2 + 1 + 1 + 1 + 2 = 7 pairs, density = 7 / (2 * 5) = 0.7; coverage = 1.
    assert real_radii(torch.from_numpy(points), 2).tolist() == [2.0, 1.0, 1.0, 1.0, 2.0]
    assert density_coverage(points, points, 2) == (0.7, 1.0)


def test_a_random_set_against_itself_is_fully_covered() -> None:
    # Any set of distinct points covers itself: each point's copy is at distance 0 < its radius.
    points = np.random.default_rng(0).normal(size=(300, 2))
    for k in (1, 5):
        assert density_coverage(points, points, k, chunk_rows=64)[1] == 1.0


def test_a_duplicated_real_point_is_its_own_neighbour_at_distance_0() -> None:
    # real = [0, 0, 1], k = 1: each 0's nearest other real point is the other 0, radius 0 (prdc's too:
    # only the point's own zero is skipped). A ball of radius 0 holds nothing; the fake at 0 is exactly
    # 1 from the real 1, whose radius is 1, and the fakes at 5 and 6 are far: density 0, coverage 0.
    # (prdc needs k + 2 fakes: it also finds each fake's k-th nearest other fake, for recall.)
    assert real_radii(torch.from_numpy(line(0, 0, 1)), 1).tolist() == [0.0, 0.0, 1.0]
    assert density_coverage(line(0, 0, 1), line(0, 5, 6), 1) == (0.0, 0.0)
    assert prdc(line(0, 0, 1), line(0, 5, 6), 1) == (0.0, 0.0)


def test_a_generator_collapsed_on_one_of_k_modes() -> None:
    # K = 5 modes 100 apart (std 1), 100 real points each; 500 fake points, all from mode 0's Gaussian.
    # A real point's ball (radius a few std) is 100 std from any other mode: only mode 0's 100 real
    # points can be covered, so coverage <= 100 / 500 = 1/K. Each of them misses every fake with
    # probability C(99, 5) / C(599, 5) ~= 1.2e-4 (Naeem et al.'s expectation within the mode), 0.012
    # points expected: allowing 2 misses, coverage >= 98 / 500.
    # Density only sees fidelity: within mode 0, real and fake share a distribution, so each real ball
    # holds k M / 100 fakes on average and E[density] = 1 (sampling std 0.05 over 200 seeds: 0.25 is
    # 5 std).
    modes, per_mode, m = 5, 100, 500
    centers = np.stack([100.0 * np.arange(modes), np.zeros(modes)], axis=1)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        real = np.repeat(centers, per_mode, axis=0) + rng.normal(size=(modes * per_mode, 2))
        fake = centers[0] + rng.normal(size=(m, 2))
        density, coverage = density_coverage(real, fake, NEAREST_K, chunk_rows=128)
        assert (per_mode - 2) / (modes * per_mode) <= coverage <= 1 / modes
        assert abs(density - 1) < 0.25


# ------------------------------------------------------------------------------------------ prdc


def prdc(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Density and coverage by the authors' prdc 0.2 (which prints the sample counts)."""
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):
        scores = compute_prdc(real, fake, k)
    return float(scores["density"]), float(scores["coverage"])


@pytest.mark.parametrize("d", [2, 64])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_equals_prdc(d: int, k: int) -> None:
    # N != M, and blocks of 37 real rows (the last one short), 100 and all 300, so chunking is exercised.
    for seed in range(3):
        rng = np.random.default_rng(seed)
        real, fake = rng.normal(size=(300, d)), rng.normal(0.3, 1.2, size=(217, d))
        expected = prdc(real, fake, k)
        for chunk_rows in (37, 100, None):
            got = density_coverage(real, fake, k, chunk_rows=chunk_rows)
            assert got == pytest.approx(expected, abs=1e-12, rel=0)


def test_tensors_and_arrays_agree() -> None:
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(200, 3)), rng.normal(size=(150, 3))
    assert density_coverage(torch.from_numpy(real), torch.from_numpy(fake), 3) == density_coverage(
        real, fake, 3
    )


def test_metric_values_carry_counts_and_k() -> None:
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(120, 4)), rng.normal(size=(80, 4))
    density, coverage = density_coverage_metric_value(real, fake, 3, note_prefix="LeNet features; ")
    assert (density.value, coverage.value) == density_coverage(real, fake, 3)
    for value in (density, coverage):
        assert value.counts == {"generated": 80, "reference": 120}
        assert value.details == {"k": 3}
        assert value.note == "LeNet features; k = 3"


# -------------------------------------------------------------------------------------- registry


def test_declarations() -> None:
    density, coverage = METRICS.get(DENSITY), METRICS.get(COVERAGE)
    assert (density.display_name, coverage.display_name) == ("Density", "Coverage")
    assert density.domain == NON_NEGATIVE and coverage.domain == FRACTION
    for metric in (density, coverage):
        assert metric.modality == "points" and metric.higher_is_better and metric.unit == ""
        assert metric.min_samples == NEAREST_K + 1 and metric.max_samples is not None
        # Dirac's true samples are one point: every radius is 0, nothing could ever be covered.
        assert metric.needs == (CONTINUOUS,)
        assert metric.unmet(declared(_mixture())) is None
        assert metric.unmet(declared(_dataset("dirac"))) == CONTINUOUS


def _dataset(name: str) -> Dataset:
    spec = DATASETS.get(name)
    return spec.build(spec.params())


def _mixture() -> GaussianMixture:
    ring = _dataset("ring-8")
    assert isinstance(ring, GaussianMixture)
    return ring


def test_registered_metrics_on_ring_8(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = _mixture()
    n = 2500  # the mode-collapse suites' evaluation size
    oracle = ring.sample(n, torch.Generator().manual_seed(0)).to(torch.float64).numpy()
    # One mode's Gaussian only: all samples around the first center, with the true std.
    one_mode = (
        ring.centers[0] + ring.std * torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    ).numpy()

    calls: list[int] = []
    computed = module.density_coverage_metric_value

    def counted(*args: Any, **kwargs: Any) -> tuple[MetricValue, MetricValue]:
        calls.append(1)
        return computed(*args, **kwargs)

    monkeypatch.setattr(module, "density_coverage_metric_value", counted)
    ctx = EvalContext(oracle, ring, seed=1)
    density, coverage = METRICS.get(DENSITY).compute(ctx), METRICS.get(COVERAGE).compute(ctx)
    assert len(calls) == 1, "density and coverage share one computation per evaluation"
    # The reference is as many fresh true samples as there are samples (M = N): E[density] = 1 and
    # E[coverage] = 1 - C(2499, 5) / C(4999, 5) ~= 0.969. Over seeds, std 0.01 and 0.004: 0.05 and
    # 0.02 are 5 std.
    expected = 1 - math.comb(n - 1, NEAREST_K) / math.comb(2 * n - 1, NEAREST_K)
    assert expected == pytest.approx(0.969, abs=1e-3)
    assert abs(density.value - 1) < 0.05 and abs(coverage.value - expected) < 0.02
    assert coverage.counts == {"generated": n, "reference": n} and coverage.details == {"k": NEAREST_K}
    assert (density.value, coverage.value) == density_coverage(ctx.reference(n), oracle, NEAREST_K)

    # Collapsed on one of 8 modes: only the true samples of that mode can be covered, a binomial
    # fraction 1/8 +- 0.007 of the reference (nearly all of them are): 0.03 is 4 std.
    collapsed = METRICS.get(COVERAGE).compute(EvalContext(one_mode, ring, seed=1))
    assert abs(collapsed.value - 1 / 8) < 0.03


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("real", "fake", "k", "message"),
    [
        (np.zeros(5), np.zeros((5, 1)), 1, "real points must be a non-empty"),
        (np.zeros((5, 1, 1)), np.zeros((5, 1)), 1, "real points must be a non-empty"),
        (np.zeros((5, 2)), np.zeros((0, 2)), 1, "fake points must be a non-empty"),
        (np.zeros((5, 2)), np.zeros((5, 3)), 1, "differ in dimension: 2 and 3"),
        (np.arange(10.0).reshape(5, 2), np.zeros((5, 2)), 0, "k must be an integer >= 1"),
        (np.arange(10.0).reshape(5, 2), np.zeros((5, 2)), 2.5, "k must be an integer >= 1"),
        (np.arange(10.0).reshape(5, 2), np.zeros((5, 2)), True, "k must be an integer >= 1"),
        (np.arange(10.0).reshape(5, 2), np.zeros((5, 2)), 5, "need more than 5 real points, got 5"),
        (np.array([[0.0], [np.nan]]), np.zeros((1, 1)), 1, "real points must be finite"),
        (np.zeros((3, 1)), np.array([[np.inf]]), 1, "fake points must be finite"),
    ],
)
def test_bad_input_is_one_line(real: np.ndarray, fake: np.ndarray, k: int, message: str) -> None:
    with pytest.raises(GanbenchError, match=message) as error:
        density_coverage(real, fake, k)
    assert "\n" not in str(error.value)


# ----------------------------------------------------------------- in image feature spaces


@pytest.mark.e2e
def test_image_density_and_coverage_read_the_shared_lenet_features(
    real_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In the digit classifier's features: one half of MNIST against another covers most of it; a set
    # of ones only (one digit of ten) covers little, about the ones' share of the reference. Both read
    # the features FID reads: one extraction of each set for the four metrics.
    from ganbench.data.images import load_mnist
    from ganbench.metrics.fidelity import features

    mnist = load_mnist("test")
    # Random halves: MNIST's test split puts one writer population in its first 5,000 images and
    # another in its last 5,000, so slices of it are not samples of one distribution.
    order = torch.randperm(10_000, generator=torch.Generator().manual_seed(0))
    reference_images, other_half = mnist.images[order[:600]], mnist.images[order[600:1200]]

    class Reference:
        modality = "images"
        capabilities = frozenset({IMAGE_SOURCE})

        def reference(self, n: int) -> torch.Tensor:
            return reference_images[:n]

    extracted: list[int] = []
    real_extract = features.extract

    def counting(images, extractor, device=None, batch_size=None):
        extracted.append(len(images))
        return real_extract(images, extractor, device, batch_size)

    monkeypatch.setattr(features, "extract", counting)

    def scores(images: torch.Tensor, dataset_id: str) -> dict[str, float]:
        samples = (images.to(torch.float32) / 127.5 - 1).numpy()
        wanted = ("fid-lenet", "density-lenet", "coverage-lenet")
        ctx = EvalContext(
            samples, Reference(), seed=0, dataset_id=dataset_id, reference_count=600, wanted=wanted
        )
        values = {name: METRICS.get(name).compute(ctx) for name in wanted}
        assert values["coverage-lenet"].details["k"] == 5 and "k = 5" in values["density-lenet"].note
        assert values["coverage-lenet"].details["extractor"] == "ganbench-lenet"
        pair = features.shared_features(ctx, "lenet")
        generated, reference = pair.layer("fid")
        assert (values["density-lenet"].value, values["coverage-lenet"].value) == density_coverage(
            reference, generated, 5
        )
        return {name: value.value for name, value in values.items()}

    half = scores(other_half, "halves")
    assert extracted == [600, 600], "one extraction of each set for FID, density and coverage"
    ones = scores(mnist.images[mnist.labels == 1][:600], "halves")
    # Measured: coverage 0.9 (halves) against 0.1 (ones; ones are 11% of MNIST); density stays near 1
    # for both: the ones are real digits, so density (fidelity) does not fall, as the paper intends.
    assert half["coverage-lenet"] > 0.7 and ones["coverage-lenet"] < 0.25
    assert half["density-lenet"] > 0.7
