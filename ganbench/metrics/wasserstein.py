"""Exact Wasserstein distances through POT: the only module that imports `ot` (lazily)."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from ganbench.errors import GanbenchError
from ganbench.metrics.base import NON_NEGATIVE, EvalContext, MetricValue, register_metric

W1 = "w1"

# POT's default limit (100,000 network-simplex iterations) stops early at a few thousand points;
# ten million solves n = 10,000 here. A run that still hits the limit is flagged, not hidden.
NUM_ITER_MAX = 10_000_000
# Exact W1 between n and n points builds an n x n float64 cost matrix: 50,000 points take 20 GB.
W1_MAX_SAMPLES = 50_000
# POT's network simplex return code for an optimal solution (ot.lp check_result).
OPTIMAL = 1

Order = Literal[1, 2]
ORDERS: tuple[Order, ...] = get_args(Order)

# Normalizations of a histogram transport cost (docs/pages/methods/wasserstein.md): none, divided by the total
# mass (ganbench's first worked example: moving P onto Q costs 8 at unit cell distance, and 8 / 14 =
# 0.5714 for a total mass of 14), divided by the largest ground distance of the grid.
Normalization = Literal["none", "total-mass", "max-distance"]
NORMALIZATIONS: tuple[Normalization, ...] = get_args(Normalization)

# Relative tolerance on equal totals: float32-normalized weights sum to 1 within about 1e-7.
_MASS_RTOL = 1e-6


def _check_order(p: int) -> None:
    if p not in ORDERS:
        raise GanbenchError(f"Wasserstein order p must be one of {ORDERS}, got {p!r}")


def _masses(weights: np.ndarray | None, n: int, name: str) -> np.ndarray:
    """Non-negative float64 masses of length `n` with a positive total (uniform when None)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    masses = np.asarray(weights, np.float64)
    if masses.shape != (n,):
        raise GanbenchError(f"weights {name} have shape {masses.shape}, expected ({n},)")
    if not np.all(np.isfinite(masses)) or np.any(masses < 0) or masses.sum() <= 0:
        raise GanbenchError(f"weights {name} must be finite, non-negative and not all zero")
    return masses


def _check_equal_totals(a: np.ndarray, b: np.ndarray) -> None:
    # POT only asserts equal sums to 6 decimals (an AssertionError, absolute): we check first, relatively.
    if not np.isclose(a.sum(), b.sum(), rtol=_MASS_RTOL, atol=0.0):
        raise GanbenchError(f"the two sides must have equal total mass, got {a.sum():g} and {b.sum():g}")


def _ground_cost(x: np.ndarray, y: np.ndarray, p: int) -> np.ndarray:
    """Euclidean distance to the p-th power between the rows of `x` and `y`."""
    import ot

    # backend="scipy" computes each distance directly: POT's default expands |x|^2 + |y|^2 - 2xy,
    # which leaves up to ~1e-7 on the diagonal of dist(x, copy of x), so W(x, x) would not be 0.
    return ot.dist(x, y, metric="euclidean" if p == 1 else "sqeuclidean", backend="scipy")


def _solve(a: np.ndarray, b: np.ndarray, cost: np.ndarray, num_iter_max: int) -> MetricValue:
    """Optimal transport cost by POT's network simplex, flagged when it stops before optimality."""
    import warnings

    import ot

    with warnings.catch_warnings():
        # We read the solver's status from its log below instead of letting it warn.
        warnings.simplefilter("ignore", UserWarning)
        value, log = ot.emd2(a, b, cost, numItermax=num_iter_max, log=True)
    if log["result_code"] != OPTIMAL:
        return MetricValue(float(value), exact=False, note=f"not exact: {log['warning']}")
    return MetricValue(float(value))


def _points(x: np.ndarray, name: str) -> np.ndarray:
    points = np.asarray(x, np.float64)
    if points.ndim == 1:  # n scalars are n points on a line
        points = points[:, None]
    if points.ndim != 2 or len(points) == 0:
        raise GanbenchError(f"points {name} must be a non-empty (n, d) array, got shape {points.shape}")
    return points


def exact_wasserstein(
    x: np.ndarray,
    y: np.ndarray,
    p: Order = 1,
    a: np.ndarray | None = None,
    b: np.ndarray | None = None,
    num_iter_max: int = NUM_ITER_MAX,
) -> MetricValue:
    """Exact W_p between weighted point sets, Euclidean ground distance, by POT's `ot.emd2`.

    Args:
        x: (n, d) points (or n scalars).
        y: (m, d) points (or m scalars).
        p: the order, 1 or 2; the ground cost is the Euclidean distance to the p-th power.
        a: weights of `x`, uniform when None. Weights are relative: each side is normalized to
            total 1, and the two totals must be equal.
        b: weights of `y`, likewise.
        num_iter_max: network simplex iteration limit.

    Returns:
        (optimal cost)^(1/p), with `exact=False` and POT's warning as its note if the solver
        stopped at `num_iter_max` before optimality.

    Raises:
        GanbenchError: unequal totals, a bad order, or malformed points or weights.
    """
    _check_order(p)
    x, y = _points(x, "x"), _points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise GanbenchError(f"points x and y differ in dimension: {x.shape[1]} and {y.shape[1]}")
    a, b = _masses(a, len(x), "a"), _masses(b, len(y), "b")
    _check_equal_totals(a, b)
    result = _solve(a / a.sum(), b / b.sum(), _ground_cost(x, y, p), num_iter_max)
    return MetricValue(result.value ** (1.0 / p), exact=result.exact, note=result.note)


def exact_w1(x: np.ndarray, y: np.ndarray, num_iter_max: int = NUM_ITER_MAX) -> MetricValue:
    """W1 between two equal-weight point sets, Euclidean ground cost, by POT's `ot.emd2`.

    The value is the optimal mean transport cost. If the solver stops at `num_iter_max` before
    optimality, the returned value has `exact=False` and POT's warning as its note.
    """
    return exact_wasserstein(x, y, p=1, num_iter_max=num_iter_max)


def wasserstein_1d(
    x: np.ndarray, y: np.ndarray, p: Order = 1, a: np.ndarray | None = None, b: np.ndarray | None = None
) -> float:
    """Exact W_p between weighted samples on the real line, by sorting (POT's `ot.wasserstein_1d`).

    Args:
        x: n scalars.
        y: m scalars.
        p: the order, 1 or 2.
        a: weights of `x`, uniform when None; relative, as in `exact_wasserstein`.
        b: weights of `y`, likewise.

    Returns:
        W_p (not its p-th power).
    """
    import ot

    _check_order(p)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 1 or y.ndim != 1 or len(x) == 0 or len(y) == 0:
        raise GanbenchError(f"wasserstein_1d needs two non-empty 1-D arrays, got {x.shape} and {y.shape}")
    a, b = _masses(a, len(x), "a"), _masses(b, len(y), "b")
    _check_equal_totals(a, b)
    # POT integrates |F^-1 - G^-1|^p over quantiles: that is W_p to the p-th power.
    return float(ot.wasserstein_1d(x, y, a / a.sum(), b / b.sum(), p=p)) ** (1.0 / p)


def histogram_wasserstein(
    P: np.ndarray,
    Q: np.ndarray,
    normalize: Normalization = "none",
    cell: float = 1.0,
    num_iter_max: int = NUM_ITER_MAX,
) -> MetricValue:
    """W1 transport cost between two histograms on the same 1-D or 2-D grid, by POT's `ot.emd2`.

    The ground distance between two cells is the Euclidean distance between their centers, `cell`
    units apart along each axis. Masses are not normalized: the cost is mass moved times distance
    (the seed's example moves P onto Q at cost 8, total mass 14).

    Args:
        P: non-negative masses, shape (n,) or (h, w).
        Q: non-negative masses of the same shape and total as `P`.
        normalize: "none", "total-mass" (cost / total mass) or "max-distance" (cost / the largest
            ground distance between two cells of the grid).
        cell: distance between neighbouring cell centers.
        num_iter_max: network simplex iteration limit.

    Returns:
        The normalized cost, flagged `exact=False` if the solver stopped before optimality.
    """
    if normalize not in NORMALIZATIONS:
        raise GanbenchError(f"unknown normalization {normalize!r}; choose from: {', '.join(NORMALIZATIONS)}")
    P, Q = np.asarray(P, np.float64), np.asarray(Q, np.float64)
    if P.shape != Q.shape or P.ndim not in (1, 2):
        raise GanbenchError(f"histograms must share a 1-D or 2-D shape, got {P.shape} and {Q.shape}")
    if not cell > 0:
        raise GanbenchError(f"cell size must be positive, got {cell!r}")
    a, b = _masses(P.ravel(), P.size, "P"), _masses(Q.ravel(), Q.size, "Q")
    _check_equal_totals(a, b)
    # Cell centers in the same (row-major) order as ravel(): index times cell size.
    centers = np.indices(P.shape).reshape(P.ndim, -1).T * float(cell)
    ground = _ground_cost(centers, centers, p=1)
    divisor = {"none": 1.0, "total-mass": a.sum(), "max-distance": ground.max()}[normalize]
    if divisor == 0:  # a single cell: no distance to normalize by
        raise GanbenchError("max-distance normalization needs a grid of at least two cells")
    # POT rescales b to a's total anyway; doing it here keeps its absolute 1e-6 check quiet.
    result = _solve(a, b * (a.sum() / b.sum()), ground, num_iter_max)
    return MetricValue(result.value / divisor, exact=result.exact, note=result.note)


@register_metric(
    W1,
    "exact W1 to as many fresh true samples (POT emd2, Euclidean cost)",
    higher_is_better=False,
    unit="distance",
    modality="points",
    # W1 between finite samples is noisy even for a perfect generator: two samples of 2,500 points of
    # the true ring-8 lie 0.03-0.05 apart (grid-25: about 0.18), varying by ~0.01 between seeds.
    # Hence 5% of the value, and at least 0.01.
    rel_tol=0.05,
    abs_tol=0.01,
    max_samples=W1_MAX_SAMPLES,
    display_name="W1",
    domain=NON_NEGATIVE,
)
def _w1(ctx: EvalContext) -> MetricValue:
    return exact_w1(ctx.samples, ctx.reference(len(ctx.samples)))
