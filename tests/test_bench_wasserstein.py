"""Benchmark of exact W1 (POT network simplex) against the number of points; run by `nox -s bench`."""

from __future__ import annotations

import numpy as np
import pytest

from ganbench.metrics.wasserstein import exact_w1

pytestmark = pytest.mark.bench


@pytest.mark.parametrize("n", [1000, 2500, 5000, 10000])
def test_exact_w1_vs_n(benchmark, n: int) -> None:
    """Exact W1 between n and n 2-D points from two different Gaussians (n = 2,500 is the suite's)."""
    benchmark.group = "exact W1 vs n"
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 2))
    y = rng.normal(loc=(1.0, -0.5), scale=1.5, size=(n, 2))
    # One round at 10,000: a 10^4 x 10^4 network simplex takes long enough that one sample says enough.
    rounds = 1 if n == 10000 else 3
    result = benchmark.pedantic(exact_w1, args=(x, y), rounds=rounds, iterations=1)
    assert result.exact, result.note
    assert result.value > 0
