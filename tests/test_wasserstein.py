"""Exact W1 through POT `ot.emd2`: uniform weights, Euclidean ground cost (DESIGN.md section 4)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ganbench.data import DATASETS
from ganbench.metrics import METRICS, EvalContext
from ganbench.metrics.wasserstein import exact_w1


def test_self_distance_is_zero() -> None:
    x = np.random.default_rng(0).normal(size=(200, 2))
    result = exact_w1(x, x)
    assert result.value == pytest.approx(0.0, abs=1e-12)
    assert result.exact is True
    assert result.note == ""


def test_translation_costs_its_length() -> None:
    # Translating every point by v: the identity matching costs |v| per point, and
    # |E[X] - E[Y]| = |v| is a lower bound on W1 (Jensen, the norm is convex), so W1 = |v| = 5.
    x = np.random.default_rng(1).normal(size=(300, 2))
    result = exact_w1(x, x + np.array([3.0, 4.0]))
    assert result.value == pytest.approx(5.0, abs=1e-9)
    assert result.exact is True


def test_hand_matching_square() -> None:
    # x = {(0,0), (1,0)}, y = {(0,1), (1,1)}: matching straight up moves each half of the mass by 1,
    # total 1/2 * 1 + 1/2 * 1 = 1; the crossed matching costs sqrt(2) each, and any point of x is at
    # least 1 away from all of y, so W1 = 1.
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    y = np.array([[0.0, 1.0], [1.0, 1.0]])
    assert exact_w1(x, y).value == pytest.approx(1.0, abs=1e-12)


def test_hand_matching_line() -> None:
    # x = {0, 3}, y = {1, 2} on the x axis, weight 1/2 each. Matching 0->1, 3->2 costs
    # 1/2 * 1 + 1/2 * 1 = 1; the crossed 0->2, 3->1 costs 1/2 * 2 + 1/2 * 2 = 2. Every point of x is
    # at least 1 from all of y, so 1 is optimal (the mean-difference bound, 0 here, is not tight).
    x = np.array([[0.0, 0.0], [3.0, 0.0]])
    y = np.array([[1.0, 0.0], [2.0, 0.0]])
    assert exact_w1(x, y).value == pytest.approx(1.0, abs=1e-12)


def test_symmetry() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(250, 2))
    y = rng.normal(loc=0.5, scale=2.0, size=(250, 2))
    forward, backward = exact_w1(x, y), exact_w1(y, x)
    assert forward.value > 0.1
    assert forward.value == pytest.approx(backward.value, abs=1e-9)


def test_iteration_limit_is_flagged_not_warned() -> None:
    import ot  # noqa: F401  (import first, so import-time warnings are not counted below)

    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 2))
    y = rng.normal(size=(500, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = exact_w1(x, y, num_iter_max=10)
    assert result.exact is False
    assert "numItermax" in result.note
    escaped = [w for w in caught if issubclass(w.category, UserWarning)]
    assert escaped == [], [str(w.message) for w in escaped]
    # The same data with the default limit is solved exactly, and 10 iterations had not got there.
    full = exact_w1(x, y)
    assert full.exact is True
    assert result.value != pytest.approx(full.value, abs=1e-9)


def make_ctx(seed: int, n: int = 200) -> EvalContext:
    spec = DATASETS.get("ring-8")
    mixture = spec.build(spec.params())
    samples = np.random.default_rng(100).normal(scale=0.5, size=(n, 2))
    return EvalContext(samples=samples, dataset=mixture, seed=seed)


def test_registered_w1_uses_seeded_fresh_reference() -> None:
    metric = METRICS.get("w1")
    assert metric.higher_is_better is False
    assert metric.modality == "points"

    ctx = make_ctx(seed=5)
    result = metric.compute(ctx)
    reference = ctx.reference(len(ctx.samples))
    assert reference.shape == (200, 2)
    assert reference.dtype == np.float64
    # The reference is fresh true samples drawn from the dataset with the context's seed.
    spec = DATASETS.get("ring-8")
    expected = spec.build(spec.params()).sample(200, torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(reference, expected.to(torch.float64).numpy())
    assert result.exact is True
    assert result.value == pytest.approx(exact_w1(ctx.samples, reference).value, abs=1e-12)

    # Same seed, new context: the same reference and the same W1.
    again = make_ctx(seed=5)
    np.testing.assert_array_equal(again.reference(200), reference)
    assert metric.compute(again).value == pytest.approx(result.value, abs=1e-12)

    # Another seed: another reference, and (almost surely) another W1.
    other = make_ctx(seed=6)
    assert not np.array_equal(other.reference(200), reference)
    assert metric.compute(other).value != pytest.approx(result.value, abs=1e-9)


def test_w1_of_true_samples_to_reference_is_small() -> None:
    # Both sides drawn from ring-8 (std 0.01, radius 1): the exact W1 between two 400-point draws
    # comes from unequal mode counts (about sqrt(n/8) ~ 7 extra points per mode, each moved ~0.77);
    # a generator stuck on one mode would be near 1.
    spec = DATASETS.get("ring-8")
    mixture = spec.build(spec.params())
    true = mixture.sample(400, torch.Generator().manual_seed(11)).to(torch.float64).numpy()
    ctx = EvalContext(samples=true, dataset=mixture, seed=12)
    good = METRICS.get("w1").compute(ctx).value
    collapsed = np.repeat(mixture.centers.numpy()[:1], 400, axis=0)
    bad = METRICS.get("w1").compute(EvalContext(samples=collapsed, dataset=mixture, seed=12)).value
    assert good < 0.2
    assert bad > 0.8
