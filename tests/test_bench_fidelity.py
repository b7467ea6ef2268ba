"""Benchmark: the time the real-data statistics cache saves, cold against cached, in one session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from ganbench.metrics import fidelity
from ganbench.metrics.fidelity import KEY_FID, LENET, fidelity_scores

pytestmark = pytest.mark.bench


@pytest.mark.parametrize("families", [("fid",), ("fid", "kid", "prc")], ids=["fid", "fid-kid-prc"])
@pytest.mark.parametrize("reference", ["cold", "cached"])
def test_lenet_metrics_with_and_without_the_cache(
    benchmark, real_mnist: Path, reference: str, families: tuple[str, ...]
) -> None:
    """The image-quality suite's --quick evaluation: 2,000 generated images against the 10,000 of
    the MNIST test split, in the digit classifier's features. `cold` empties the statistics cache
    before each round (the classifier itself stays cached); the ratio of medians is the saving."""
    from ganbench.data.images import load_mnist

    benchmark.group = f"lenet {'+'.join(families)}, 2,000 vs 10,000"
    mnist = load_mnist("test")
    generated = mnist.images[torch.randperm(10_000, generator=torch.Generator().manual_seed(0))[:2000]]
    ref = mnist.reference(10_000)
    fidelity_scores(generated, ref, "bench", LENET, set(families))  # trains/loads the classifier, fills

    def setup() -> None:
        if reference == "cold":
            shutil.rmtree(fidelity.cache_root(), ignore_errors=True)

    def evaluate() -> fidelity.FidelityResult:
        return fidelity_scores(generated, ref, "bench", LENET, set(families))

    result = benchmark.pedantic(evaluate, setup=setup, rounds=5, iterations=1)
    assert result.cached == (reference == "cached")
    assert result.scores[KEY_FID] < 5  # a real subset against the whole split
