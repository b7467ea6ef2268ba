"""Exact Wasserstein distances through POT: point sets, 1-D by sorting, histograms.

The wasserstein suite and the library: docs/pages/methods/wasserstein.md.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import torch

from ganbench.data import DATASETS
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS, EvalContext, MetricValue
from ganbench.metrics.wasserstein import (
    NORMALIZATIONS,
    NUM_ITER_MAX,
    exact_w1,
    exact_wasserstein,
    histogram_wasserstein,
    wasserstein_1d,
)


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


# --- exact 1-D W_p by sorting -------------------------------------------------------------------


@pytest.mark.parametrize(("n", "m", "weighted"), [(300, 300, False), (200, 350, False), (150, 90, True)])
def test_1d_w1_matches_scipy(n: int, m: int, weighted: bool) -> None:
    rng = np.random.default_rng(20 + n)
    x, y = rng.normal(size=n), rng.exponential(size=m) - 0.5
    a, b = (rng.random(n), rng.random(m)) if weighted else (None, None)
    if weighted:
        b *= a.sum() / b.sum()  # unnormalized weights, equal totals
    expected = scipy.stats.wasserstein_distance(x, y, u_weights=a, v_weights=b)
    assert expected > 0.1
    assert wasserstein_1d(x, y, p=1, a=a, b=b) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("repeat", [1, 3])
def test_1d_w2_matches_sorted_matching(repeat: int) -> None:
    # With n = repeat * m equal-weight points, the sorted i-th x meets the sorted (i // repeat)-th y
    # (the monotone coupling is optimal on the line), so W2^2 = mean((sort x - repeat(sort y))^2).
    rng = np.random.default_rng(30 + repeat)
    y = rng.normal(size=120)
    x = rng.normal(loc=0.7, scale=1.5, size=repeat * len(y))
    expected = np.sqrt(np.mean((np.sort(x) - np.repeat(np.sort(y), repeat)) ** 2))
    assert wasserstein_1d(x, y, p=2) == pytest.approx(expected, rel=1e-10)


def test_1d_integer_weights_equal_repeated_points() -> None:
    # Weight k on a point is the same measure as k copies of it (weights are relative).
    rng = np.random.default_rng(40)
    x, y = rng.normal(size=50), rng.normal(size=50)
    counts = rng.integers(1, 5, size=50)
    y_counts = np.full(50, counts.sum() / 50)
    for p in (1, 2):
        expanded = wasserstein_1d(np.repeat(x, counts), y, p=p)
        assert wasserstein_1d(x, y, p=p, a=counts, b=y_counts) == pytest.approx(expanded, rel=1e-10)


# --- exact W_p between weighted point sets ------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_exact_w1_matches_brute_force_over_permutations(n: int) -> None:
    # Two sets of n points, weight 1/n each: by Birkhoff-von Neumann the optimal plan may be taken
    # to be a permutation, so W1 = min over all n! matchings of the mean Euclidean distance.
    rng = np.random.default_rng(61 + n)
    x, y = rng.normal(size=(n, 2)), rng.normal(loc=0.3, size=(n, 2))
    distance = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=2)
    matchings = np.array(list(itertools.permutations(range(n))))
    brute = distance[np.arange(n), matchings].mean(axis=1).min()
    if n > 2:  # the identity matching is not optimal here, so the solver must search
        assert brute < distance.diagonal().mean() - 1e-6
    result = exact_w1(x, y)
    assert result.exact is True
    assert result.value == pytest.approx(brute, rel=1e-9, abs=1e-12)
    assert exact_wasserstein(x, y, p=1).value == pytest.approx(brute, rel=1e-9, abs=1e-12)


def test_exact_w1_matches_linear_sum_assignment() -> None:
    # An independent solver: scipy's Hungarian-type assignment on the Euclidean cost matrix.
    rng = np.random.default_rng(58)
    x, y = rng.normal(size=(60, 2)), rng.normal(loc=(1.0, -0.5), scale=1.5, size=(60, 2))
    distance = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=2)
    rows, cols = scipy.optimize.linear_sum_assignment(distance)
    expected = distance[rows, cols].mean()
    assert exact_w1(x, y).value == pytest.approx(expected, rel=1e-9)


def test_exact_w1_beats_greedy_nearest_matching_by_hand() -> None:
    # x = {0, 3}, y = {2, 6} on the x axis, weight 1/2 each.
    # Greedy (closest pair first): 3 -> 2 (1), then 0 -> 6 (6): mean (1 + 6) / 2 = 3.5.
    # Optimal (monotone): 0 -> 2 (2), 3 -> 6 (3): mean (2 + 3) / 2 = 2.5.
    # Lower bound for any plan: |E[X] - E[Y]| = |1.5 - 4| = 2.5 (Jensen), so W1 = 2.5 exactly.
    # (W2 here is sqrt((2^2 + 3^2) / 2) ~= 2.55, so an order-2 solver fails this too.)
    x = np.array([[0.0, 0.0], [3.0, 0.0]])
    y = np.array([[2.0, 0.0], [6.0, 0.0]])
    assert exact_w1(x, y).value == pytest.approx(2.5, abs=1e-12)
    assert exact_w1(y, x).value == pytest.approx(2.5, abs=1e-12)


@pytest.mark.parametrize("p", [1, 2])
def test_exact_wasserstein_self_is_zero(p: int) -> None:
    rng = np.random.default_rng(51)
    x, a = rng.normal(scale=3.0, size=(200, 2)), rng.random(200)
    # A copy, not the same object: each distance is computed directly, so the diagonal is exactly 0.
    result = exact_wasserstein(x, x.copy(), p=p, a=a, b=a.copy())
    assert result.value == pytest.approx(0.0, abs=1e-12)
    assert result.exact is True


@pytest.mark.parametrize("p", [1, 2])
def test_exact_wasserstein_translate_costs_its_length(p: int) -> None:
    # Y = X + v. Upper bound: the identity coupling moves every point by exactly |v|, cost |v|^p.
    # Lower bound, any coupling: E|X - Y| >= |E[X - Y]| = |v| (p = 1, Jensen, the norm is convex) and
    # E|X - Y|^2 >= |E[X - Y]|^2 = |v|^2 (p = 2, variance >= 0). So W_p = |v| = 5 for both orders.
    rng = np.random.default_rng(52)
    x = rng.normal(size=(250, 2))
    result = exact_wasserstein(x, x + np.array([3.0, 4.0]), p=p)
    assert result.value == pytest.approx(5.0, abs=1e-9)
    assert result.exact is True


def test_exact_w2_at_least_w1() -> None:
    # For the W2-optimal coupling, W1 <= E|X - Y| <= sqrt(E|X - Y|^2) = W2 (Jensen).
    rng = np.random.default_rng(53)
    for trial in range(3):
        x, y = rng.normal(size=(120, 2)), rng.normal(loc=trial, scale=1.5, size=(90, 2))
        a, b = rng.random(120), rng.random(90)
        b *= a.sum() / b.sum()
        w1 = exact_wasserstein(x, y, p=1, a=a, b=b).value
        w2 = exact_wasserstein(x, y, p=2, a=a, b=b).value
        assert w1 > 0.1
        assert w2 >= w1 - 1e-12


@pytest.mark.parametrize("p", [1, 2])
def test_points_on_a_line_match_1d(p: int) -> None:
    rng = np.random.default_rng(54 + p)
    x, y = rng.normal(size=70), rng.normal(loc=1.0, size=110)
    a, b = rng.random(70), rng.random(110)
    b *= a.sum() / b.sum()
    on_line = exact_wasserstein(np.c_[x, np.zeros(70)], np.c_[y, np.zeros(110)], p=p, a=a, b=b)
    assert on_line.exact is True
    assert on_line.value == pytest.approx(wasserstein_1d(x, y, p=p, a=a, b=b), rel=1e-9)


def test_weighted_w1_matches_scipy_nd() -> None:
    # scipy's own (linear-programming) W1 between weighted 2-D point sets, an independent solver.
    rng = np.random.default_rng(56)
    x, y = rng.normal(size=(15, 2)), rng.normal(loc=0.5, size=(20, 2))
    a, b = rng.random(15), rng.random(20)
    b *= a.sum() / b.sum()
    expected = scipy.stats.wasserstein_distance_nd(x, y, u_weights=a, v_weights=b)
    assert exact_wasserstein(x, y, p=1, a=a, b=b).value == pytest.approx(expected, rel=1e-8)


def test_weights_are_relative() -> None:
    rng = np.random.default_rng(57)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(30, 2))
    a, b = rng.random(40), rng.random(30)
    b *= a.sum() / b.sum()
    once = exact_wasserstein(x, y, p=2, a=a, b=b).value
    assert exact_wasserstein(x, y, p=2, a=7 * a, b=7 * b).value == pytest.approx(once, rel=1e-12)


# --- histograms on a grid: the seed's example and its normalizations -----------------------------


def test_seed_example_two_optimal_plans_cost_8() -> None:
    # Cells 0, 1, 2 one unit apart, total mass 14 on each side:
    P = np.array([4.0, 10.0, 0.0])
    Q = np.array([0.0, 10.0, 4.0])
    distance = np.abs(np.subtract.outer(np.arange(3), np.arange(3))).astype(float)  # |i - j|
    # plan[i, j] is the mass moved from cell i of P to cell j of Q.
    # Relay: 4 from cell 0 to 1 and 4 from cell 1 to 2, 6 stay at 1: cost 4 * 1 + 4 * 1 = 8.
    relay = np.array([[0.0, 4.0, 0.0], [0.0, 6.0, 4.0], [0.0, 0.0, 0.0]])
    # Direct: 4 from cell 0 to 2 in one jump, the 10 at cell 1 stay: cost 4 * 2 = 8.
    direct = np.array([[0.0, 0.0, 4.0], [0.0, 10.0, 0.0], [0.0, 0.0, 0.0]])
    assert not np.array_equal(relay, direct)
    for plan in (relay, direct):
        assert (plan >= 0).all()
        np.testing.assert_array_equal(plan.sum(axis=1), P)  # everything in P leaves
        np.testing.assert_array_equal(plan.sum(axis=0), Q)  # and fills Q exactly
        assert (plan * distance).sum() == 8.0
    # No plan is cheaper: f(x) = x is 1-Lipschitz, so any plan costs
    # sum_ij plan_ij |i - j| >= sum_ij plan_ij (j - i) = E_Q[x] - E_P[x] = (10 + 2 * 4) - 10 = 8.
    assert (Q * np.arange(3)).sum() - (P * np.arange(3)).sum() == 8.0

    cost = histogram_wasserstein(P, Q)
    assert cost.exact is True
    assert cost.value == pytest.approx(8.0, abs=1e-12)
    per_mass = histogram_wasserstein(P, Q, normalize="total-mass").value
    assert per_mass == pytest.approx(0.5714, abs=1e-4)  # the seed's rounding
    assert per_mass == pytest.approx(8 / 14, abs=1e-12)
    # Divided by total mass, it is W1 between P and Q as distributions on the cell positions.
    assert wasserstein_1d(np.arange(3.0), np.arange(3.0), p=1, a=P, b=Q) == pytest.approx(8 / 14, abs=1e-12)


@pytest.mark.parametrize(
    ("P", "Q", "cell", "expected"),
    [
        # Mass 1 moves two cells: cost 2; / total mass 1 = 2; / largest distance (cell 0 to 2) 2 = 1.
        ([1, 0, 0], [0, 0, 1], 1.0, {"none": 2.0, "total-mass": 2.0, "max-distance": 1.0}),
        # Mass 3 moves two cells: cost 6; / total mass 3 = 2; / largest distance 2 = 3.
        ([3, 0, 0], [0, 0, 3], 1.0, {"none": 6.0, "total-mass": 2.0, "max-distance": 3.0}),
        # 2x2 grid, mass 1 from corner (0,0) to (1,1): cost sqrt(2), the largest distance is that
        # diagonal, so max-distance gives 1.
        (
            [[1, 0], [0, 0]],
            [[0, 0], [0, 1]],
            1.0,
            {"none": np.sqrt(2), "total-mass": np.sqrt(2), "max-distance": 1.0},
        ),
        # 2x3 grid, cells 0.5 apart, mass 2 at (0,0) splits: 1 to (0,2), 1 * 0.5 * 2 = 1, and 1 to
        # (1,0), 1 * 0.5 = 0.5: cost 1.5; / total 2 = 0.75; the largest distance is corner (0,0) to
        # (1,2): 0.5 * sqrt(1 + 4), so 1.5 / (0.5 sqrt(5)) = 3 / sqrt(5).
        (
            [[2, 0, 0], [0, 0, 0]],
            [[0, 0, 1], [1, 0, 0]],
            0.5,
            {"none": 1.5, "total-mass": 0.75, "max-distance": 3 / np.sqrt(5)},
        ),
    ],
)
def test_normalizations_by_hand(P: list, Q: list, cell: float, expected: dict[str, float]) -> None:
    assert set(expected) == set(NORMALIZATIONS)
    for normalize, value in expected.items():
        result = histogram_wasserstein(np.array(P), np.array(Q), normalize=normalize, cell=cell)
        assert result.exact is True
        assert result.value == pytest.approx(value, abs=1e-12), normalize


# --- errors and the early-stop flag --------------------------------------------------------------


def test_unequal_totals_raise() -> None:
    x = np.zeros((3, 2))
    with pytest.raises(GanbenchError, match="equal total mass"):
        histogram_wasserstein(np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 2.0]))
    with pytest.raises(GanbenchError, match="equal total mass"):
        exact_wasserstein(x, x, a=np.ones(3), b=np.full(3, 2.0))
    with pytest.raises(GanbenchError, match="equal total mass"):
        wasserstein_1d(np.zeros(2), np.zeros(2), a=np.ones(2), b=np.array([1.0, 2.0]))


def test_unknown_normalization_and_order_raise() -> None:
    P = np.array([1.0, 0.0])
    with pytest.raises(GanbenchError, match="unknown normalization 'max'"):
        histogram_wasserstein(P, P, normalize="max")  # type: ignore[arg-type]
    with pytest.raises(GanbenchError, match="order p"):
        exact_wasserstein(np.zeros((2, 2)), np.zeros((2, 2)), p=3)  # type: ignore[arg-type]


def _no_user_warning(compute: Callable[[], MetricValue]) -> MetricValue:
    import ot  # noqa: F401  (import first, so import-time warnings are not counted below)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compute()
    escaped = [w for w in caught if issubclass(w.category, UserWarning)]
    assert escaped == [], [str(w.message) for w in escaped]
    return result


def test_early_stop_is_flagged_for_points_and_histograms() -> None:
    rng = np.random.default_rng(60)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    P, Q = rng.random((8, 8)), rng.random((8, 8))
    Q *= P.sum() / Q.sum()
    cases: list[Callable[[int], MetricValue]] = [
        lambda n: exact_wasserstein(x, y, p=2, num_iter_max=n),
        lambda n: histogram_wasserstein(P, Q, normalize="total-mass", num_iter_max=n),
    ]
    for compute in cases:
        stopped = _no_user_warning(lambda compute=compute: compute(5))
        assert stopped.exact is False
        assert "numItermax" in stopped.note
        full = compute(NUM_ITER_MAX)
        assert full.exact is True and full.note == ""
        assert stopped.value != pytest.approx(full.value, abs=1e-9)
