"""Benchmarks (pytest-benchmark), run by `nox -s bench`; skipped by the default test run."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from ganbench.metrics.wasserstein import exact_w1
from ganbench.runner import run

pytestmark = pytest.mark.bench


def test_exact_w1_at_2500(benchmark) -> None:
    """Exact W1 (POT network simplex) between 2,500 and 2,500 points, the suite's default size."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2500, 2)), rng.normal(size=(2500, 2)) + 0.5
    result = benchmark.pedantic(exact_w1, args=(x, y), rounds=5, iterations=1, warmup_rounds=1)
    assert result.exact and 0.3 < result.value < 0.8


def _suite_rounds(benchmark, tmp_path: Path, quick: bool, rounds: int) -> None:
    folders = (tmp_path / f"round{i}" for i in itertools.count())

    def fresh() -> tuple[tuple, dict]:
        return (), {"out": next(folders)}

    def one_run(out: Path):
        return run("mode-collapse", quick=quick, device="cpu", out=out)

    outcome, report = benchmark.pedantic(one_run, setup=fresh, rounds=rounds, iterations=1)
    assert len(outcome.ran) == 24 and (report.records["status"] == "ok").all()


def test_mode_collapse_quick_suite(benchmark, tmp_path: Path) -> None:
    """`ganbench run --suite mode-collapse --quick`, end to end; target at most 60 s."""
    _suite_rounds(benchmark, tmp_path, quick=True, rounds=3)


@pytest.mark.slow
def test_mode_collapse_default_suite(benchmark, tmp_path: Path) -> None:
    """`ganbench run --suite mode-collapse`, end to end; target at most 10 minutes."""
    _suite_rounds(benchmark, tmp_path, quick=False, rounds=1)
